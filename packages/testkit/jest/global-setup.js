// Jest global setup: brings up (or adopts, when env names them) Kafka, the schema
// registry, Postgres and Redis once per run; workers inherit the endpoints via env.
module.exports = async function globalSetup() {
  if (process.env.CMIS_TESTKIT === 'off') return;
  const { startInfra } = require('../dist/index.js');
  globalThis.__cmisInfra = await startInfra({ log: (line) => process.stderr.write(`[testkit] ${line}\n`) });
};
