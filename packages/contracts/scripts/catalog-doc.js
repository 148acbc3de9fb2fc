// Writes CATALOG.md from the built catalog (`pnpm --filter @cmis/contracts catalog:doc` builds first),
// formatted with the repo's prettier config so `prettier --write` leaves it as generated.
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');
const prettier = require('prettier');
const { renderCatalogDoc } = require('../dist/index.js');

async function main() {
  const file = join(__dirname, '..', 'CATALOG.md');
  const options = { ...(await prettier.resolveConfig(file)), parser: 'markdown' };
  writeFileSync(file, await prettier.format(renderCatalogDoc(), options));
  console.log(`wrote ${file}`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
