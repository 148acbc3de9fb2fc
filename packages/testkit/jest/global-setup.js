// Jest global setup: brings up (or adopts, when env names them) Kafka, the schema
// registry, Postgres and Redis once per run; workers inherit the endpoints via env.
// The run's tests get a database of their own on that Postgres, dropped by the global
// teardown: the schemas they create (one per test) do not pile up run after run.
module.exports = async function globalSetup() {
  if (process.env.CMIS_TESTKIT === 'off') return;
  const { startInfra, createScratchDatabase } = require('../dist/index.js');
  const log = (line) => process.stderr.write(`[testkit] ${line}\n`);
  globalThis.__cmisInfra = await startInfra({ log });
  const scratch = await createScratchDatabase(process.env.DATABASE_URL, 'cmis_test');
  globalThis.__cmisScratch = scratch;
  process.env.DATABASE_URL = scratch.url;
  log(`tests use ${scratch.url} (dropped at the end)`);
};
