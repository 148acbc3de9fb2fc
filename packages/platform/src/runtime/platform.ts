import { createCodec, type Codec } from '@cmis/contracts';
import { createKafkaBus, type Bus } from '../bus';
import type { Logger } from '../logging';
import { createRedisHelpers, type RedisHelpers } from '../redis';

export interface PlatformConfig {
  KAFKA_BROKERS?: string[];
  SCHEMA_REGISTRY_URL?: string;
  DATABASE_URL?: string;
  REDIS_URL?: string;
  KAFKA_SESSION_TIMEOUT_MS?: number;
  KAFKA_HEARTBEAT_INTERVAL_MS?: number;
  KAFKA_FETCH_MAX_BYTES?: number;
}

/** The transports every service in a process shares: bus, codec, Redis helpers, Postgres URL. */
export interface Platform {
  readonly bus: Bus;
  readonly codec: Codec;
  readonly redis: RedisHelpers;
  readonly databaseUrl: string;
  readonly logger: Logger;
  close(): Promise<void>;
}

export interface PlatformOptions {
  config: PlatformConfig;
  logger: Logger;
  clientId: string;
  /** Supplied when the process runs on the embedded default (no KAFKA_BROKERS / DATABASE_URL). */
  embedded?: { bus?: Bus; databaseUrl?: string };
}

export function createPlatform(options: PlatformOptions): Platform {
  const { config, logger } = options;
  const bus =
    options.embedded?.bus ??
    (config.KAFKA_BROKERS
      ? createKafkaBus({
          brokers: config.KAFKA_BROKERS,
          clientId: options.clientId,
          consumerSession: {
            sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
            heartbeatIntervalMs: config.KAFKA_HEARTBEAT_INTERVAL_MS,
            fetchMaxBytes: config.KAFKA_FETCH_MAX_BYTES,
          },
          onError: (message, error) => logger.error({ err: error }, message),
        })
      : undefined);
  if (!bus) throw new Error('KAFKA_BROKERS is not set and no embedded bus was supplied');
  const databaseUrl = options.embedded?.databaseUrl ?? config.DATABASE_URL;
  if (!databaseUrl) throw new Error('DATABASE_URL is not set and no embedded database was supplied');
  const codec = createCodec({ registryUrl: config.SCHEMA_REGISTRY_URL });
  const redis = createRedisHelpers({ url: config.REDIS_URL, prefix: 'cmis', logger });
  return {
    bus,
    codec,
    redis,
    databaseUrl,
    logger,
    async close() {
      await Promise.allSettled([bus.close(), redis.quit()]);
    },
  };
}
