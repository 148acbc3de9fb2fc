module.exports = async function globalTeardown() {
  if (globalThis.__cmisScratch) {
    await globalThis.__cmisScratch
      .drop()
      .catch((error) => process.stderr.write(`[testkit] dropping the test database failed: ${error}\n`));
  }
  if (globalThis.__cmisInfra) await globalThis.__cmisInfra.stop();
};
