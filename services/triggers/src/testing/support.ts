// Helpers for the int specs: a triggers process on the kit's infrastructure, a fresh org with a
// source, and an exact read of what a topic holds for that org.
import { startServiceProcess, type RunningServiceProcess } from '@cmis/platform';
import { testEnv, testKafka, uniqueName, until } from '@cmis/testkit';

export { until };
import { createTriggersService, type TriggersOptions } from '../service';

export const ADMIN_TOKEN = 'triggers-spec-admin-token-0123456789';

export async function startTriggers(
  options: TriggersOptions = {},
  service = uniqueName('trg'),
  /** Another broker than the kit's (a fault test's own, which it stops and restarts). */
  kafkaBrokers?: string[],
): Promise<RunningServiceProcess> {
  const env = testEnv();
  return startServiceProcess(
    { service, httpPort: 0, create: createTriggersService({ schedulePollMs: 100, ...options }) },
    {
      KAFKA_BROKERS: (kafkaBrokers ?? env.kafkaBrokers!).join(','),
      SCHEMA_REGISTRY_URL: env.schemaRegistryUrl,
      DATABASE_URL: env.databaseUrl,
      REDIS_URL: env.redisUrl,
      CMIS_ADMIN_TOKEN: ADMIN_TOKEN,
      LOG_LEVEL: 'silent',
    },
  );
}

export interface TestSource {
  sourceId: string;
  writeKey: string;
  writeKeyId: string;
  webhookSecret: string;
  webhookSecretId: string;
}

export interface TestOrg {
  orgId: string;
  apiKey: string;
  source: TestSource;
}

export function client(baseUrl: string) {
  return (
    method: string,
    path: string,
    options: { bearer?: string; writeKey?: string; body?: unknown; headers?: Record<string, string> } = {},
  ) =>
    fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(options.bearer ? { authorization: `Bearer ${options.bearer}` } : {}),
        ...(options.writeKey
          ? { authorization: `Basic ${Buffer.from(`${options.writeKey}:`).toString('base64')}` }
          : {}),
        ...options.headers,
      },
      body:
        options.body === undefined
          ? undefined
          : typeof options.body === 'string'
            ? options.body
            : JSON.stringify(options.body),
    });
}

/** A throwaway org with a management key (once the service's tenancy projection has it) and a source. */
export async function createOrgWithSource(
  baseUrl: string,
  scopes = ['triggers:manage', 'triggers:read'],
): Promise<TestOrg> {
  const call = client(baseUrl);
  const org = (await (
    await call('POST', '/admin/orgs', { bearer: ADMIN_TOKEN, body: { name: uniqueName('org') } })
  ).json()) as {
    orgId: string;
  };
  const key = (await (
    await call('POST', `/admin/orgs/${org.orgId}/keys`, { bearer: ADMIN_TOKEN, body: { scopes } })
  ).json()) as {
    key: string;
  };
  const created = await until(
    () => call('POST', '/v1/sources', { bearer: key.key, body: { name: 'spec source' } }),
    (r) => r.status !== 401,
  );
  if (created.status !== 201)
    throw new Error(`creating a source answered ${created.status}: ${await created.text()}`);
  return { orgId: org.orgId, apiKey: key.key, source: (await created.json()) as TestSource };
}

export interface TopicMessage {
  key: string;
  partition: number;
  offset: string;
  /** The message value as published (registry-framed or plain JSON). */
  value: Buffer;
  envelope: {
    id: string;
    type: string;
    subject: string;
    orgId: string;
    time: string;
    data: Record<string, unknown>;
  };
}

/**
 * Everything `topic` holds whose key starts with `keyPrefix`, up to the end offsets as they are
 * when called. Ingest answers after the broker's ack, so this sees every event published by a
 * request that was already answered, and proves absence without a sleep.
 */
/**
 * The topic's end offsets. Retried for a while on a retriable error: a broker just restarted
 * answers "not the leader" until its partitions' leaders are elected again.
 */
async function endOffsets(kafka: ReturnType<typeof testKafka>, topic: string) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const admin = kafka.admin();
    try {
      await admin.connect();
      return await admin.fetchTopicOffsets(topic);
    } catch (error) {
      if (!(error as { retriable?: boolean }).retriable || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    } finally {
      await admin.disconnect();
    }
  }
}

export async function messagesNow(
  topic: string,
  keyPrefix: string,
  kafka = testKafka(),
): Promise<TopicMessage[]> {
  const ends = await endOffsets(kafka, topic);
  const pending = new Map(ends.filter((p) => Number(p.high) > 0).map((p) => [p.partition, BigInt(p.high)]));
  const found: TopicMessage[] = [];
  if (pending.size === 0) return found;
  const consumer = kafka.consumer({ groupId: uniqueName('read'), maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`messagesNow(${topic}) did not reach the end offsets`)),
        30_000,
      );
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            const key = message.key?.toString() ?? '';
            if (key.startsWith(keyPrefix)) {
              found.push({
                key,
                partition,
                offset: message.offset,
                value: message.value!,
                envelope: decode(message.value),
              });
            }
            const end = pending.get(partition);
            if (end !== undefined && BigInt(message.offset) + 1n >= end) pending.delete(partition);
            if (pending.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return found;
}

/** Registry-framed (magic byte + 4-byte schema id) or plain JSON values. */
export function decode(value: Buffer | null): TopicMessage['envelope'] {
  if (!value) throw new Error('empty message value');
  const body = value[0] === 0 ? value.subarray(5) : value;
  return JSON.parse(body.toString('utf8')) as TopicMessage['envelope'];
}
