#!/usr/bin/env node
import { startInfra } from './infra';

/**
 * `node packages/testkit/dist/cli.js`: brings up the local Kafka broker and schema
 * registry the tests use and keeps them running until Ctrl-C, for poking at by hand.
 */
async function main(): Promise<void> {
  const infra = await startInfra({ log: (line) => console.log(line) });
  console.log(`\nKAFKA_BROKERS=${infra.kafkaBrokers.join(',')}`);
  console.log(`SCHEMA_REGISTRY_URL=${infra.schemaRegistryUrl}`);
  console.log(`DATABASE_URL=${infra.databaseUrl}`);
  console.log(`REDIS_URL=${infra.redisUrl}`);
  console.log('Ctrl-C stops them.');
  const stop = () => {
    void infra.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  setInterval(() => undefined, 1 << 30);
}

main().catch((err) => {
  console.error((err as Error).message);
  process.exit(1);
});
