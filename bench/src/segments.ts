import { randomUUID } from 'node:crypto';
import { segmentEventsTopic, userActionsTopic } from '@cmis/contracts';
import { uniqueName, type Infra } from '@cmis/testkit';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import type { Benchmark } from './bench';
import { BENCH_ADMIN_TOKEN, pollUntil, startServiceProcess, type ServiceProcess } from './service-process';

// Events per second; the env override is for finding where the pipeline saturates.
const RATE = Number(process.env.BENCH_SEGMENTS_RATE ?? 1_000);
const SECONDS = 10;
const REFERENCE_SECONDS = 5;
const WARMUP_SECONDS = 2;
const TICK_MS = 10;
// Each contact sends its event twice in one batch: the second makes it a member.
const CONTACTS_PER_TICK = Math.max(1, Math.round((RATE * TICK_MS) / 1000 / 2));
const SEGMENTS = 100;
const EVENT_NAMES = 10;
const SEGMENTS_PER_EVENT = SEGMENTS / EVENT_NAMES;

const post = (url: string, auth: string, body?: unknown) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: auth },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * Track call → segment-entered latency at 1,000 track calls/s: POST /v1/batch on triggers, Kafka,
 * the analytics service (its own process) evaluating the contact's segments as the event arrives,
 * its outbox, Kafka again, a plain kafkajs reader of cmis.analytics.segments.v1. 100 segments
 * "performed event_<k mod 10> at least twice within 21-30 days": each event name is in 10 of them,
 * so a contact's second event enters it into 10 segments (10 segment events, each measured).
 * Every contact sends its two events in one batch, with its send time; Dittofeed's comparable
 * figure is its 120 s polling period. Reference: the same calls' latency to
 * cmis.triggers.user-actions.v1 (ingest alone) at the same rate, in a phase of its own before.
 */
export const segmentsBench: Benchmark = {
  name: 'segments',
  description: `track call -> segment-entered latency at ${RATE}/s for ${SECONDS}s over ${SEGMENTS} segments (target < 1,000 ms)`,
  async run(infra: Infra) {
    const nodeArgs = process.env.BENCH_SEGMENTS_NODE_ARGS;
    const [triggers, analytics] = await Promise.all([
      startServiceProcess('triggers', infra, nodeArgs),
      startServiceProcess('analytics', infra, nodeArgs),
    ]);
    const kafka = new Kafka({
      brokers: infra.kafkaBrokers,
      clientId: uniqueName('bench-segments'),
      logLevel: logLevel.NOTHING,
    });
    const consumers: Consumer[] = [];
    try {
      const admin = `Bearer ${BENCH_ADMIN_TOKEN}`;
      const { orgId } = (await (
        await post(`${triggers.url}/admin/orgs`, admin, { name: uniqueName('bench') })
      ).json()) as { orgId: string };
      const { key } = (await (
        await post(`${triggers.url}/admin/orgs/${orgId}/keys`, admin, {
          scopes: ['analytics:read', 'analytics:write', 'triggers:manage', 'triggers:read'],
        })
      ).json()) as { key: string };
      const bearer = `Bearer ${key}`;
      let writeKey = '';
      await pollUntil(
        async () => {
          const created = await post(`${triggers.url}/v1/sources`, bearer, { name: 'bench' });
          if (created.status === 201) writeKey = ((await created.json()) as { writeKey: string }).writeKey;
          return created.status === 201;
        },
        30_000,
        'source',
      );
      const segment = (k: number) => ({
        name: `bench ${k}`,
        definition: {
          kind: 'performed',
          event: `event_${k % EVENT_NAMES}`,
          atLeast: 2,
          withinDays: 21 + Math.floor(k / EVENT_NAMES),
        },
      });
      await pollUntil(
        async () => (await post(`${analytics.url}/v1/segments`, bearer, segment(0))).status === 201,
        30_000,
        'segment',
      );
      for (let k = 1; k < SEGMENTS; k++) {
        const created = await post(`${analytics.url}/v1/segments`, bearer, segment(k));
        if (created.status !== 201)
          throw new Error(`segments bench: segment ${k} answered ${created.status}: ${await created.text()}`);
      }

      // Contact ids: `r-` the reference phase, `m-` the measured phase, `w-` warm-ups.
      const sentAt = new Map<string, number>();
      const enteredLatency: number[] = [];
      const ingestLatency: number[] = [];
      const counts = { entered: 0, exited: 0, referenceEntered: 0 };
      // The readers are the measuring stick: batches, and only the type of each segment event.
      const read = async (topic: string, onMessage: (contactId: string, value: Buffer) => void) => {
        const consumer = kafka.consumer({
          groupId: uniqueName('bench-reader'),
          maxWaitTimeInMs: 5,
          minBytes: 16_384,
        });
        consumers.push(consumer);
        await consumer.connect();
        await consumer.subscribe({ topic, fromBeginning: false });
        await consumer.run({
          autoCommit: false,
          partitionsConsumedConcurrently: 12,
          eachBatch: async ({ batch }) => {
            for (const message of batch.messages) {
              const k = message.key?.toString() ?? '';
              if (k.startsWith(`${orgId}:`) && message.value)
                onMessage(k.slice(orgId.length + 1), message.value);
            }
          },
        });
        // Wait for the group to own its partitions before anything is sent.
        await new Promise((r) => setTimeout(r, 3_000));
        return consumer;
      };
      await read(segmentEventsTopic.name, (contactId, value) => {
        const now = Date.now();
        const { type } = JSON.parse((value[0] === 0 ? value.subarray(5) : value).toString()) as {
          type: string;
        };
        if (type === 'cmis.analytics.segment-exited') counts.exited += 1;
        if (type !== 'cmis.analytics.segment-entered') return;
        if (contactId.startsWith('r-')) counts.referenceEntered += 1;
        if (!contactId.startsWith('m-')) return;
        counts.entered += 1;
        const t = sentAt.get(contactId);
        if (t !== undefined) enteredLatency.push(now - t);
      });
      const actionsReader = await read(userActionsTopic.name, (contactId) => {
        const t = sentAt.get(contactId);
        // Each reference contact's second event (its first is counted too: both were sent at t).
        if (t !== undefined && contactId.startsWith('r-')) ingestLatency.push(Date.now() - t);
      });

      const auth = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
      let failed = 0;
      let tickOf = 0;
      /** Track calls at RATE for warm-up plus `seconds`, open loop; the measured ones are `<prefix>-`. */
      const send = async (prefix: string, seconds: number) => {
        const ticks = ((seconds + WARMUP_SECONDS) * 1000) / TICK_MS;
        const warmupTicks = (WARMUP_SECONDS * 1000) / TICK_MS;
        const started = Date.now();
        const inFlight: Array<Promise<unknown>> = [];
        let measured = 0;
        for (let tick = 0; tick < ticks; tick++) {
          const due = started + tick * TICK_MS;
          const wait = due - Date.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          const isMeasured = tick >= warmupTicks;
          const now = Date.now();
          const batch = Array.from({ length: CONTACTS_PER_TICK }, (_, i) => {
            const userId = `${isMeasured ? prefix : 'w'}-${tick}-${i}`;
            const event = `event_${tickOf++ % EVENT_NAMES}`;
            if (isMeasured) sentAt.set(userId, now);
            return [0, 1].map(() => ({
              type: 'track',
              userId,
              event,
              messageId: randomUUID(),
              timestamp: new Date(now).toISOString(),
              properties: { sentAt: now },
            }));
          }).flat();
          if (isMeasured) measured += CONTACTS_PER_TICK;
          inFlight.push(
            post(`${triggers.url}/v1/batch`, auth, { batch }).then(
              (r) => {
                if (r.status !== 200) failed += batch.length;
                return r.arrayBuffer();
              },
              () => (failed += batch.length),
            ),
          );
        }
        const sendSeconds = (Date.now() - started) / 1000;
        await Promise.all(inFlight);
        return { ticks, warmupTicks, sendSeconds, measured };
      };
      const until = async (done: () => boolean) => {
        const deadline = Date.now() + 90_000;
        while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      };

      // Reference first: ingest alone, while analytics does its part; then wait for analytics to
      // finish the reference's entries so the measured phase starts on an idle pipeline.
      const reference = await send('r', REFERENCE_SECONDS);
      await until(
        () =>
          ingestLatency.length >= reference.measured * 2 &&
          counts.referenceEntered >= reference.measured * SEGMENTS_PER_EVENT,
      );
      await actionsReader.disconnect();

      const cpu = (s: ServiceProcess) => s.cpuSeconds();
      const cpuAtStart = { triggers: cpu(triggers), analytics: cpu(analytics) };
      const { ticks, warmupTicks, sendSeconds, measured } = await send('m', SECONDS);
      const expected = measured * SEGMENTS_PER_EVENT;
      await until(() => counts.entered >= expected);
      const sentTotal = ticks * CONTACTS_PER_TICK * 2;
      const cpuPerEvent = (name: 'triggers' | 'analytics', s: ServiceProcess) => {
        const [before, after] = [cpuAtStart[name], cpu(s)];
        return before === undefined || after === undefined
          ? 'n/a'
          : Math.round(((after - before) * 1e6) / sentTotal);
      };
      const details = {
        triggers: cpuPerEvent('triggers', triggers),
        analytics: cpuPerEvent('analytics', analytics),
      };
      if (enteredLatency.length === 0) throw new Error('segments bench: no segment-entered arrived');
      enteredLatency.sort((a, b) => a - b);
      ingestLatency.sort((a, b) => a - b);
      return {
        name: 'segments',
        value: percentile(enteredLatency, 99),
        unit: 'ms p99',
        reference: percentile(ingestLatency, 99),
        details: {
          'offered rate (events/s)': Math.round(
            ((ticks - warmupTicks) * CONTACTS_PER_TICK * 2) / (sendSeconds - WARMUP_SECONDS),
          ),
          'measured contacts': measured,
          'segment-entered expected': expected,
          'segment-entered received': counts.entered,
          'segment-exited received (window exits need 21+ days: none expected)': counts.exited,
          'refused by ingest': failed,
          'event -> segment-entered p50 ms': percentile(enteredLatency, 50),
          'event -> segment-entered p99 ms': percentile(enteredLatency, 99),
          'event -> segment-entered max ms': enteredLatency[enteredLatency.length - 1]!,
          'reference: event -> user-actions topic p50 ms': percentile(ingestLatency, 50),
          'reference: event -> user-actions topic p99 ms': percentile(ingestLatency, 99),
          'triggers CPU us per event': details.triggers,
          'analytics CPU us per event': details.analytics,
          'target value': '< 1000 ms (Dittofeed polls every 120 s)',
        },
      };
    } finally {
      await Promise.allSettled(consumers.map((c) => c.disconnect()));
      await Promise.allSettled([triggers.stop(), analytics.stop()]);
    }
  },
};
