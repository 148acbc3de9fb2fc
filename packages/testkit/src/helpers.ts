import { randomBytes, randomUUID } from 'node:crypto';
import { Kafka, logLevel, type IHeaders, type KafkaMessage, type Message } from 'kafkajs';
import { DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL } from './infra';

/** Endpoints the global setup provided (or the defaults on this machine for PG/Redis). */
export function testEnv() {
  const brokers = process.env.KAFKA_BROKERS;
  const registry = process.env.SCHEMA_REGISTRY_URL;
  return {
    kafkaBrokers: brokers ? brokers.split(',') : undefined,
    schemaRegistryUrl: registry,
    databaseUrl: process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL,
    redisUrl: process.env.REDIS_URL ?? DEFAULT_REDIS_URL,
  };
}

/**
 * The environment of a service process (startServiceProcess) on the test infrastructure, with an
 * admin token and quiet logs; `extra` adds or overrides settings.
 */
export function serviceProcessEnv(adminToken: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = testEnv();
  return {
    KAFKA_BROKERS: required(env.kafkaBrokers, 'KAFKA_BROKERS').join(','),
    SCHEMA_REGISTRY_URL: required(env.schemaRegistryUrl, 'SCHEMA_REGISTRY_URL'),
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    CMIS_ADMIN_TOKEN: adminToken,
    LOG_LEVEL: 'silent',
    ...extra,
  };
}

function required<T>(value: T | undefined, name: string): T {
  if (value === undefined) {
    throw new Error(`${name} is not set: run tests through jest's global setup (pnpm test) or set it`);
  }
  return value;
}

/** A name no other test file or earlier run uses: `<prefix>-<random>`. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

/** A Postgres identifier no other test uses (lowercase, underscores). */
export function uniqueSchema(prefix = 't'): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`.toLowerCase();
}

/** A fresh tenant for one test; tests never share orgs and never clean up after each other. */
export function throwawayOrg(): { orgId: string; name: string } {
  const orgId = randomUUID();
  return { orgId, name: `test-org-${orgId.slice(0, 8)}` };
}

export function testKafka(clientId = uniqueName('test')): Kafka {
  return new Kafka({
    brokers: required(testEnv().kafkaBrokers, 'KAFKA_BROKERS'),
    clientId,
    logLevel: logLevel.WARN,
  });
}

export async function createTopics(
  topics: Array<string | { topic: string; numPartitions?: number }>,
  kafka: Kafka = testKafka(),
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: topics.map((t) =>
        typeof t === 'string'
          ? { topic: t, numPartitions: 1 }
          : { topic: t.topic, numPartitions: t.numPartitions ?? 1 },
      ),
    });
  } finally {
    await admin.disconnect();
  }
}

export async function produce(topic: string, messages: Message[], kafka: Kafka = testKafka()): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}

export interface ReceivedMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: IHeaders;
}

export interface WaitForMessagesOptions {
  topic: string;
  count: number;
  predicate?: (message: ReceivedMessage) => boolean;
  timeoutMs?: number;
  kafka?: Kafka;
  groupId?: string;
}

/**
 * Reads `topic` from the beginning with a fresh consumer group until `count` messages
 * match `predicate`; rejects at the deadline saying how many matched. Never a sleep.
 */
export async function waitForMessages(options: WaitForMessagesOptions): Promise<ReceivedMessage[]> {
  const { topic, count, predicate = () => true, timeoutMs = 30_000 } = options;
  const kafka = options.kafka ?? testKafka();
  const consumer = kafka.consumer({ groupId: options.groupId ?? uniqueName('wait'), maxWaitTimeInMs: 100 });
  const matched: ReceivedMessage[] = [];
  let seen = 0;
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `waitForMessages(${topic}): ${matched.length}/${count} matched of ${seen} seen in ${timeoutMs}ms`,
            ),
          ),
        timeoutMs,
      );
      const take = (partition: number, m: KafkaMessage) => {
        seen += 1;
        const received: ReceivedMessage = {
          topic,
          partition,
          offset: m.offset,
          key: m.key ? m.key.toString() : null,
          value: m.value,
          headers: m.headers ?? {},
        };
        if (predicate(received)) matched.push(received);
        if (matched.length >= count) {
          clearTimeout(timer);
          resolve();
        }
      };
      consumer
        .run({ eachMessage: async ({ partition, message }) => take(partition, message) })
        .catch((err) => {
          clearTimeout(timer);
          reject(err);
        });
    });
  } finally {
    await consumer.disconnect();
  }
  return matched;
}

/**
 * Polls `probe` until `ok` accepts its value or the deadline passes, then returns the last value
 * (the caller's assertion says what was expected). For state that settles asynchronously, such
 * as a projection or /metrics; for messages use waitForMessages.
 */
export async function until<T>(
  probe: () => Promise<T>,
  ok: (value: T) => boolean,
  { timeoutMs = 30_000, intervalMs = 100 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
