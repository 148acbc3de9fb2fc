import Redis from 'ioredis';
import type { Logger } from '../logging';
import { createInvalidatingCache } from './invalidating-cache';
import { memoryInvalidationBus, redisInvalidationBus } from './invalidation-bus';
import { acquireMemoryBackend } from './memory-backend';
import { memoryAdmission } from './memory-admission';
import { memoryCooldownLocks } from './memory-cooldown-locks';
import { memoryRateLimiter, RATE_LIMIT_SCRIPT, redisRateLimiter } from './rate-limiters';
import { ADMISSION_SCRIPTS, redisAdmission } from './redis-admission';
import { redisCooldownLocks } from './redis-cooldown-locks';
import type { InvalidatingCache, RedisHelpers } from './types';

export interface RedisHelpersOptions {
  /** REDIS_URL; unset selects the in-memory implementation (DESIGN.md, Running: embedded default). */
  url?: string;
  /** Namespaces every key and channel, e.g. `cmis`; tests use a random one. */
  prefix: string;
  /** Connection errors are logged here (ioredis reconnects by itself). */
  logger?: Logger;
}

const PING_TIMEOUT_MS = 1_000;
const ONE_PER_REQUEST_SCRIPTS = [...ADMISSION_SCRIPTS, RATE_LIMIT_SCRIPT];

export function createRedisHelpers(options: RedisHelpersOptions): RedisHelpers {
  if (!/^[\w.:-]+$/.test(options.prefix)) {
    throw new RangeError('prefix must be letters, digits, _ . : or -');
  }
  return options.url ? redisHelpers(options.url, options) : memoryHelpers(options.prefix);
}

function redisHelpers(url: string, options: RedisHelpersOptions): RedisHelpers {
  const { prefix, logger } = options;
  // ioredis arms a disconnectTimeout timer even for a socket that already failed to connect, which
  // holds the process open that long at shutdown; 2 s (its default) is longer than a close needs.
  // Auto-pipelining sends the commands issued in one tick in one write (callers that take a lock
  // per event). The scripts that run once per request skip it: a pipeline object per tick cost more
  // than the write it saves there.
  const client = new Redis(url, {
    connectionName: `${prefix}:commands`,
    disconnectTimeout: 300,
    enableAutoPipelining: true,
    autoPipeliningIgnoredCommands: [...ONE_PER_REQUEST_SCRIPTS],
  });
  let subscriber: Redis | undefined;
  let bus: ReturnType<typeof redisInvalidationBus> | undefined;
  const caches = new Set<InvalidatingCache<unknown>>();
  const onError = (role: string) => (error: Error) =>
    logger?.warn({ err: error, role }, 'redis connection error; ioredis will retry');
  client.on('error', onError('commands'));

  const invalidationBus = () => {
    if (!bus) {
      subscriber = client.duplicate({ connectionName: `${prefix}:invalidations` });
      subscriber.on('error', onError('invalidations'));
      bus = redisInvalidationBus(client, subscriber);
    }
    return bus;
  };

  return {
    kind: 'redis',
    rateLimiter: (limiterOptions) => redisRateLimiter(client, prefix, limiterOptions),
    cooldownLocks: () => redisCooldownLocks(client, prefix),
    admission: (admissionOptions) => redisAdmission(client, prefix, admissionOptions),
    invalidatingCache(cacheOptions) {
      const channel = `${prefix}:cache-invalidation:${cacheOptions.name}`;
      const cache = createInvalidatingCache(invalidationBus(), channel, cacheOptions);
      caches.add(cache);
      return cache;
    },
    async ping() {
      // Not ready means down or reconnecting; a queued PING would only wait for the reconnect.
      if (client.status !== 'ready') return false;
      const timeout = new Promise<false>((resolve) => setTimeout(resolve, PING_TIMEOUT_MS, false).unref());
      return Promise.race([
        client.ping().then(
          (reply) => reply === 'PONG',
          () => false,
        ),
        timeout,
      ]);
    },
    async quit() {
      await Promise.all([...caches].map((cache) => cache.close()));
      await Promise.all([client, subscriber].map((connection) => connection && closeConnection(connection)));
    },
  };
}

async function closeConnection(connection: Redis): Promise<void> {
  if (connection.status === 'end') return;
  if (connection.status !== 'ready') {
    connection.disconnect(); // QUIT would wait in the offline queue for a connection that may never come
    return;
  }
  await connection.quit();
}

function memoryHelpers(prefix: string): RedisHelpers {
  const { backend, release } = acquireMemoryBackend(prefix);
  const bus = memoryInvalidationBus(backend.bus);
  const caches = new Set<InvalidatingCache<unknown>>();
  return {
    kind: 'memory',
    rateLimiter: (limiterOptions) => memoryRateLimiter(backend.rateLimiters, limiterOptions),
    cooldownLocks: () => memoryCooldownLocks(backend),
    admission: (admissionOptions) => memoryAdmission(backend, admissionOptions),
    invalidatingCache(cacheOptions) {
      const cache = createInvalidatingCache(bus, `cache-invalidation:${cacheOptions.name}`, cacheOptions);
      caches.add(cache);
      return cache;
    },
    ping: async () => true,
    async quit() {
      await Promise.all([...caches].map((cache) => cache.close()));
      release();
    },
  };
}
