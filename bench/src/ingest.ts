import { randomUUID } from 'node:crypto';
import { createCodec, userActionsTopic, type EventEnvelope } from '@cmis/contracts';
import { uniqueName, type Infra } from '@cmis/testkit';
import { Kafka, logLevel } from 'kafkajs';
import { secondsSince, type Benchmark } from './bench';
import { BENCH_ADMIN_TOKEN, pollUntil, startServiceProcess } from './service-process';

const EVENTS = 50_000;
const PER_REQUEST = 500;
const CONCURRENCY = 8;

export interface TriggersUnderTest {
  url: string;
  orgId: string;
  writeKey: string;
  /** CPU seconds (user + system) the service process has used so far; undefined off Linux. */
  cpuSeconds(): number | undefined;
  stop(): Promise<void>;
}

/**
 * The triggers service as in production (its own process, see service-process.ts), with an org,
 * an API key and a source ready.
 */
export async function startTriggersProcess(infra: Infra): Promise<TriggersUnderTest> {
  // e.g. BENCH_TRIGGERS_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile the service.
  const service = await startServiceProcess('triggers', infra, process.env.BENCH_TRIGGERS_NODE_ARGS);
  const { url } = service;
  try {
    const post = (path: string, token: string, body: unknown) =>
      fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
    const { orgId } = (await (
      await post('/admin/orgs', BENCH_ADMIN_TOKEN, { name: uniqueName('bench') })
    ).json()) as { orgId: string };
    const { key } = (await (
      await post(`/admin/orgs/${orgId}/keys`, BENCH_ADMIN_TOKEN, { scopes: ['*'] })
    ).json()) as { key: string };
    let writeKey = '';
    await pollUntil(
      async () => {
        const created = await post('/v1/sources', key, { name: 'bench' });
        if (created.status === 201) writeKey = ((await created.json()) as { writeKey: string }).writeKey;
        return created.status === 201;
      },
      30_000,
      'source creation',
    );
    return { url, orgId, writeKey, cpuSeconds: service.cpuSeconds, stop: service.stop };
  } catch (error) {
    await service.stop();
    throw error;
  }
}

/** A track call of a typical size (about 500 bytes once enveloped). */
export function trackCall(contact: string, i: number) {
  return {
    type: 'track',
    userId: contact,
    event: 'Order Completed',
    messageId: randomUUID(),
    timestamp: new Date().toISOString(),
    context: {
      ip: '203.0.113.9',
      userAgent: 'Mozilla/5.0 (bench)',
      library: { name: 'bench', version: '1.0.0' },
    },
    properties: { orderId: `o-${i}`, revenue: 42.5, currency: 'EUR', items: 3 },
  };
}

export async function topicEnd(kafka: Kafka, topic: string): Promise<bigint> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, p) => sum + BigInt(p.high), 0n);
  } finally {
    await admin.disconnect();
  }
}

async function inParallel<T>(
  items: T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

/**
 * Batch ingest through the HTTP API (Segment /v1/batch, 500 calls a request, 8 in flight) until
 * every event is acknowledged on Kafka, beside raw kafkajs producing the same events, enveloped
 * and registry-encoded as triggers does, 500 a send (idempotent, acks=all).
 */
export const ingestBench: Benchmark = {
  name: 'ingest',
  description: `triggers /v1/batch: ${EVENTS} track calls (${PER_REQUEST} a request, ${CONCURRENCY} in flight) → Kafka, vs raw kafkajs produce of the same events`,
  async run(infra) {
    const kafka = new Kafka({
      brokers: infra.kafkaBrokers,
      clientId: 'bench-ingest',
      logLevel: logLevel.WARN,
    });
    const topic = userActionsTopic.name;
    const triggers = await startTriggersProcess(infra);
    try {
      const auth = `Basic ${Buffer.from(`${triggers.writeKey}:`).toString('base64')}`;
      const send = async (body: string) => {
        const response = await fetch(`${triggers.url}/v1/batch`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: auth },
          body,
        });
        if (response.status !== 200)
          throw new Error(`batch answered ${response.status}: ${await response.text()}`);
        const result = (await response.json()) as { accepted: number };
        if (result.accepted !== PER_REQUEST)
          throw new Error(`batch accepted ${result.accepted} of ${PER_REQUEST}`);
      };
      const requests = (count: number) =>
        Array.from({ length: count / PER_REQUEST }, (_, r) =>
          Array.from({ length: PER_REQUEST }, (_, i) =>
            trackCall(`contact-${(r * PER_REQUEST + i) % 5_000}`, i),
          ),
        );

      // Bodies are serialized before the clock starts, as the reference's messages are encoded
      // before its clock starts: the load generator's JSON work is not the service's.
      const bodies = (batches: unknown[][]) => batches.map((batch) => JSON.stringify({ batch }));
      await inParallel(bodies(requests(5_000)), CONCURRENCY, send); // warm-up: connections, schema ids, JIT
      const before = await topicEnd(kafka, topic);
      const work = requests(EVENTS);
      const workBodies = bodies(work);
      const cpuBefore = triggers.cpuSeconds();
      const httpStart = process.hrtime.bigint();
      await inParallel(workBodies, CONCURRENCY, send);
      const httpSeconds = secondsSince(httpStart);
      const cpuAfter = triggers.cpuSeconds();
      // The service's own CPU per event: steadier than events/s on a shared, busy machine.
      const serviceCpuUsPerEvent =
        cpuBefore === undefined || cpuAfter === undefined
          ? 'n/a'
          : (((cpuAfter - cpuBefore) * 1e6) / EVENTS).toFixed(1);
      const onTopic = Number((await topicEnd(kafka, topic)) - before);
      if (onTopic < EVENTS) throw new Error(`only ${onTopic} of ${EVENTS} events reached ${topic}`);

      // Reference: the same events as triggers publishes them, produced straight with kafkajs.
      const codec = createCodec({ registryUrl: infra.schemaRegistryUrl });
      const encoded = await Promise.all(
        work.flat().map(async (call, i) => {
          const envelope: EventEnvelope = {
            id: randomUUID(),
            source: '/cmis/bench',
            type: 'cmis.triggers.action-tracked',
            specversion: '1.0',
            time: call.timestamp,
            subject: call.userId,
            orgId: triggers.orgId,
            schemaVersion: 1,
            correlationId: randomUUID(),
            causationId: null,
            data: { ...call, type: undefined, sourceId: 'src_bench', messageId: `${call.messageId}-${i}` },
          };
          const { value, headers } = await codec.encode(topic, envelope);
          return { key: `${triggers.orgId}:${call.userId}`, value, headers };
        }),
      );
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      const rawStart = process.hrtime.bigint();
      for (let i = 0; i < encoded.length; i += PER_REQUEST) {
        await producer.send({ topic, acks: -1, messages: encoded.slice(i, i + PER_REQUEST) });
      }
      const rawSeconds = secondsSince(rawStart);
      await producer.disconnect();

      return {
        name: 'ingest',
        value: EVENTS / httpSeconds,
        unit: 'events/s',
        reference: EVENTS / rawSeconds,
        details: {
          httpSeconds: httpSeconds.toFixed(2),
          rawProduceSeconds: rawSeconds.toFixed(2),
          eventsOnTopic: onTopic,
          serviceCpuUsPerEvent,
          target: 'ratio >= 0.5',
        },
      };
    } finally {
      await triggers.stop();
    }
  },
};
