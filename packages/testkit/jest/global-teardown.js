module.exports = async function globalTeardown() {
  if (globalThis.__cmisInfra) await globalThis.__cmisInfra.stop();
};
