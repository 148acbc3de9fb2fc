// Keeps schemas/published/<topic>/v<N>.json: adds a version only when the schema generated from
// zod differs from the latest kept one, and refuses one that breaks a kept version.
// Needs the built package (pnpm --filter @cmis/contracts build).
const { mkdirSync, writeFileSync } = require('node:fs');
const { dirname, relative } = require('node:path');
const { allTopics } = require('../dist/index.js');
const {
  planPublication,
  publishedSchemaFile,
  readPublishedSchemas,
} = require('../dist/published-schemas.js');

let failed = false;
for (const topic of allTopics()) {
  const plan = planPublication(topic, readPublishedSchemas(topic.name));
  const file = relative(process.cwd(), publishedSchemaFile(topic.name, plan.version));
  if (plan.status === 'up-to-date') {
    console.log(`${topic.name}: v${plan.version} is current`);
  } else if (plan.status === 'incompatible') {
    failed = true;
    console.error(
      `${topic.name}: not published, the change breaks consumers (a breaking change needs a new topic version):`,
    );
    for (const { version, issues } of plan.incompatibleWith) {
      for (const i of issues) console.error(`  against v${version}: ${i.kind} at ${i.path}: ${i.message}`);
    }
  } else {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(plan.schema, null, 2)}\n`);
    console.log(`${topic.name}: wrote ${file}`);
    if (topic.schemaVersion !== plan.version) {
      console.log(`  now set schemaVersion: ${plan.version} on ${topic.name} in src/topics/ and rebuild`);
    }
  }
}
process.exitCode = failed ? 1 : 0;
