import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import Redis from 'ioredis';
import { Client } from 'pg';
import { createTopics, produce, startKafka, testEnv, testKafka, uniqueName, waitForMessages } from './index';
import { InfraStartError, startProcess, waitUntilReady } from './process';

describe('testkit: real Kafka', () => {
  it('produces idempotently and consumes through a consumer group whose members split the partitions', async () => {
    const topic = uniqueName('kit');
    await createTopics([{ topic, numPartitions: 4 }]);
    const kafka = testKafka();
    const groupId = uniqueName('group');
    const assigned = new Map<string, number[]>();
    const seen: string[] = [];
    let bothJoined: () => void = () => undefined;
    const joined = new Promise<void>((r) => (bothJoined = r));
    let allSeen: () => void = () => undefined;
    const consumed = new Promise<void>((r) => (allSeen = r));
    const members = ['a', 'b'].map((name) => {
      const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        assigned.set(name, e.payload.memberAssignment[topic] ?? []);
        const parts = [...assigned.values()];
        if (parts.length === 2 && parts.every((p) => p.length > 0) && new Set(parts.flat()).size === 4)
          bothJoined();
      });
      return consumer;
    });
    for (const m of members) {
      await m.connect();
      await m.subscribe({ topic, fromBeginning: true });
      await m.run({
        eachMessage: async ({ message }) => {
          seen.push(message.value!.toString());
          if (seen.length === 40) allSeen();
        },
      });
    }
    await joined;
    await produce(
      topic,
      Array.from({ length: 40 }, (_, i) => ({ key: `contact-${i % 8}`, value: `event-${i}` })),
    );
    await consumed;
    await Promise.all(members.map((m) => m.disconnect()));

    expect(new Set(seen).size).toBe(40);
    expect(assigned.get('a')!.length + assigned.get('b')!.length).toBe(4);
    const admin = kafka.admin();
    await admin.connect();
    expect(await admin.listTopics()).toContain(topic);
    const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
    await admin.disconnect();
    const committed = offsets[0]!.partitions.reduce((sum, p) => sum + Number(p.offset), 0);
    expect(committed).toBe(40);
  });

  it('waitForMessages rejects at its deadline, saying how many matched', async () => {
    const topic = uniqueName('kit-empty');
    await createTopics([topic]);
    await produce(topic, [{ value: 'only one' }]);
    await expect(waitForMessages({ topic, count: 2, timeoutMs: 3_000 })).rejects.toThrow(/1\/2 matched/);
  });
});

describe('testkit: real schema registry (Confluent API)', () => {
  const registry = () => new SchemaRegistry({ host: testEnv().schemaRegistryUrl! });
  const v1 = {
    $schema: 'http://json-schema.org/draft-07/schema#',
    type: 'object',
    properties: { contactId: { type: 'string' }, plan: { type: 'string' } },
    required: ['contactId'],
  };

  it('round-trips a message in the Confluent wire format', async () => {
    const subject = `${uniqueName('kit')}-value`;
    const { id } = await registry().register(
      { type: SchemaType.JSON, schema: JSON.stringify(v1) },
      { subject },
    );
    const encoded = await registry().encode(id, { contactId: 'c-1', plan: 'pro' });
    expect(encoded[0]).toBe(0); // magic byte
    expect(encoded.readInt32BE(1)).toBe(id);
    await expect(registry().decode(encoded)).resolves.toEqual({ contactId: 'c-1', plan: 'pro' });
  });

  it('refuses a backward-incompatible change under BACKWARD compatibility', async () => {
    const subject = `${uniqueName('kit')}-value`;
    const url = testEnv().schemaRegistryUrl!;
    await registry().register({ type: SchemaType.JSON, schema: JSON.stringify(v1) }, { subject });
    const put = await fetch(`${url}/config/${subject}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ compatibility: 'BACKWARD' }),
    });
    expect(put.status).toBe(200);
    // A newly required field: data written with v1 cannot be read with it.
    const v2 = {
      ...v1,
      properties: { ...v1.properties, tier: { type: 'string' } },
      required: ['contactId', 'tier'],
    };
    await expect(
      registry().register({ type: SchemaType.JSON, schema: JSON.stringify(v2) }, { subject }),
    ).rejects.toThrow(/incompatible|409/i);
  });
});

describe('testkit: Postgres and Redis', () => {
  it('Postgres answers', async () => {
    const client = new Client({ connectionString: testEnv().databaseUrl });
    await client.connect();
    const { rows } = await client.query<{ one: number }>('select 1 as one');
    await client.end();
    expect(rows[0]?.one).toBe(1);
  });

  it('Redis answers', async () => {
    const redis = new Redis(testEnv().redisUrl);
    const key = uniqueName('kit');
    await redis.set(key, 'v', 'PX', 10_000);
    expect(await redis.get(key)).toBe('v');
    redis.disconnect();
  });
});

describe('testkit: failing fast', () => {
  let workDir: string;
  beforeEach(() => {
    workDir = mkdtempSync(join(tmpdir(), 'cmis-kit-spec-'));
  });
  afterEach(() => rmSync(workDir, { recursive: true, force: true }));

  it('a process that dies before it is ready fails the start with its log tail', async () => {
    const proc = startProcess(
      'doomed',
      'sh',
      ['-c', 'echo "cannot bind: boom"; exit 3'],
      join(workDir, 'doomed.log'),
    );
    await expect(waitUntilReady(proc, async () => false, 10_000)).rejects.toThrow(
      /doomed exited with code 3[\s\S]*cannot bind: boom/,
    );
  });

  it('a probe that never passes fails at the deadline, not later', async () => {
    const proc = startProcess('sleepy', 'sleep', ['30'], join(workDir, 'sleepy.log'));
    const started = Date.now();
    await expect(waitUntilReady(proc, async () => false, 1_000)).rejects.toBeInstanceOf(InfraStartError);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(proc.child.exitCode !== null || proc.child.signalCode !== null).toBe(true);
  });

  it('Kafka on a port already taken fails fast, naming the cause', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      await expect(startKafka(workDir, { port, deadlineMs: 45_000 })).rejects.toThrow(
        /kafka (failed to start|exited)[\s\S]*(Address already in use|BindException)/i,
      );
    } finally {
      blocker.close();
    }
  });
});
