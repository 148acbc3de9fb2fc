// Three tiers (STYLE.md): unit specs are pure; int and e2e talk to the real
// Kafka, schema registry, Postgres and Redis that the testkit's global setup provides.
const transform = { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] };
const moduleNameMapper = {
  '^@cmis/(contracts|platform|conditions|testkit|cli)$': '<rootDir>/packages/$1/src/index.ts',
  '^@cmis/(triggers|rules|workflows|drip|email|analytics)$': '<rootDir>/services/$1/src/index.ts',
};
const common = {
  rootDir: __dirname,
  transform,
  moduleNameMapper,
  testEnvironment: 'node',
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
};

/** @type {import('jest').Config} */
module.exports = {
  // Integration tests wait on real brokers; each bounds its own waits with deadlines.
  testTimeout: 60_000,
  globalSetup: '<rootDir>/packages/testkit/jest/global-setup.js',
  globalTeardown: '<rootDir>/packages/testkit/jest/global-teardown.js',
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/{packages,services}/**/*.unit.spec.ts', '<rootDir>/test/**/*.unit.spec.ts'],
    },
    { ...common, displayName: 'int', testMatch: ['<rootDir>/{packages,services}/**/*.int.spec.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/**/*.e2e.spec.ts'] },
  ],
};
