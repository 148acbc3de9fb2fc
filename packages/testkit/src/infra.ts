import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';
import { startKafka, type RunningKafka } from './kafka';
import { startRegistry, type RunningRegistry } from './registry';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export interface Infra {
  readonly kafkaBrokers: string[];
  readonly schemaRegistryUrl: string;
  readonly databaseUrl: string;
  readonly redisUrl: string;
  /** Seconds each part took to come up (0 for one adopted from env). */
  readonly timings: Record<'kafka' | 'registry', number>;
  stop(): Promise<void>;
}

export interface StartInfraOptions {
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  /** The started broker's JIT (see StartKafkaOptions.jit); benchmarks ask for `full`. */
  kafkaJit?: 'quick' | 'full';
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const started = Date.now();
  const value = await fn();
  return [value, (Date.now() - started) / 1000];
}

async function checkPostgres(url: string): Promise<void> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query('select 1');
  } catch (err) {
    throw new Error(
      `Postgres at ${url} does not answer: ${(err as Error).message}. Start it or set DATABASE_URL.`,
      { cause: err },
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function checkRedis(url: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 5_000 });
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    throw new Error(
      `Redis at ${url} does not answer: ${(err as Error).message}. Start it or set REDIS_URL.`,
      { cause: err },
    );
  } finally {
    redis.disconnect();
  }
}

/**
 * Brings up what the tests need. Each endpoint named in env (KAFKA_BROKERS,
 * SCHEMA_REGISTRY_URL, DATABASE_URL, REDIS_URL) is adopted as it is and nothing is started
 * for it; otherwise Kafka and the registry are started here, in parallel, and the machine's
 * Postgres and Redis are used. The endpoints are written back to `env` for test workers.
 */
export async function startInfra(options: StartInfraOptions = {}): Promise<Infra> {
  const env = options.env ?? process.env;
  const log = options.log ?? (() => undefined);
  const databaseUrl = env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
  const redisUrl = env.REDIS_URL ?? DEFAULT_REDIS_URL;
  const workDir = mkdtempSync(join(tmpdir(), 'cmis-testkit-'));

  // Postgres and Redis first, on their own: Kafka's start runs a blocking storage format, and a
  // probe timer that fires behind it on a busy machine would report a healthy server as down.
  const services = await Promise.allSettled([checkPostgres(databaseUrl), checkRedis(redisUrl)]);
  const down = services.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (down.length > 0) {
    throw new Error(
      `test infrastructure did not start (logs in ${workDir}):\n` +
        down.map((f) => `- ${(f.reason as Error).message}`).join('\n'),
    );
  }

  const started: Array<RunningKafka | RunningRegistry> = [];
  const keep = <T extends RunningKafka | RunningRegistry>(p: Promise<[T, number]>) =>
    p.then((r) => {
      started.push(r[0]);
      return r;
    });
  const kafkaPart = env.KAFKA_BROKERS
    ? Promise.resolve<[null, number]>([null, 0])
    : keep(timed(() => startKafka(workDir, { jit: options.kafkaJit })));
  const registryPart = env.SCHEMA_REGISTRY_URL
    ? Promise.resolve<[null, number]>([null, 0])
    : keep(timed(() => startRegistry(workDir)));

  const results = await Promise.allSettled([kafkaPart, registryPart]);
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failures.length > 0) {
    await Promise.allSettled(started.map((s) => s.stop()));
    throw new Error(
      `test infrastructure did not start (logs in ${workDir}):\n` +
        failures.map((f) => `- ${(f.reason as Error).message}`).join('\n'),
    );
  }
  const [kafka, kafkaSeconds] = (await kafkaPart) as [RunningKafka | null, number];
  const [registry, registrySeconds] = (await registryPart) as [RunningRegistry | null, number];

  const kafkaBrokers = kafka ? kafka.brokers : (env.KAFKA_BROKERS as string).split(',');
  const schemaRegistryUrl = registry ? registry.url : (env.SCHEMA_REGISTRY_URL as string);
  env.KAFKA_BROKERS = kafkaBrokers.join(',');
  env.SCHEMA_REGISTRY_URL = schemaRegistryUrl;
  env.DATABASE_URL = databaseUrl;
  env.REDIS_URL = redisUrl;
  env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

  log(
    kafka
      ? `Kafka ${kafkaBrokers.join(',')} up in ${kafkaSeconds.toFixed(1)}s (log ${kafka.logFile})`
      : `Kafka adopted from KAFKA_BROKERS=${env.KAFKA_BROKERS}`,
  );
  log(
    registry
      ? `schema registry ${schemaRegistryUrl} up in ${registrySeconds.toFixed(1)}s (log ${registry.logFile})`
      : `schema registry adopted from SCHEMA_REGISTRY_URL=${schemaRegistryUrl}`,
  );
  log(`Postgres ${databaseUrl}, Redis ${redisUrl}`);

  return {
    kafkaBrokers,
    schemaRegistryUrl,
    databaseUrl,
    redisUrl,
    timings: { kafka: kafkaSeconds, registry: registrySeconds },
    async stop() {
      await Promise.allSettled(started.map((s) => s.stop()));
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}
