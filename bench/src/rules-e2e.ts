import { writeFileSync } from 'node:fs';
import { entityMetricsTopic, ruleActionsTopic, type ActionRequested } from '@cmis/contracts';
import { uniqueName, type Infra } from '@cmis/testkit';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import type { Benchmark } from './bench';
import { BENCH_ADMIN_TOKEN, pollUntil, startServiceProcess } from './service-process';

// Events per second; the env override is for finding where the pipeline saturates.
const RATE = Number(process.env.BENCH_RULES_E2E_RATE ?? 2_500);
const SECONDS = 10;
const REFERENCE_SECONDS = 5;
const WARMUP_SECONDS = 2;
const TICK_MS = 10;
const PER_TICK = Math.max(1, Math.round((RATE * TICK_MS) / 1000));

interface ServiceUnderTest {
  url: string;
  cpuSeconds(): number | undefined;
  stop(): Promise<void>;
}

/** A service as in production (see service-process.ts); BENCH_RULES_E2E_NODE_ARGS profiles it. */
const startService = (name: 'triggers' | 'rules', infra: Infra): Promise<ServiceUnderTest> =>
  startServiceProcess(name, infra, process.env.BENCH_RULES_E2E_NODE_ARGS);

const post = (url: string, auth: string, body: unknown) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: auth },
    body: JSON.stringify(body),
  });

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * Event → action-requested latency at 2,500 metrics snapshots/s: POST /v1/metrics on triggers,
 * Kafka, the rules service (its own process) evaluating a CPA rule, its outbox, Kafka again, a
 * plain kafkajs reader. Reference: snapshots' latency to cmis.triggers.entity-metrics.v1 (ingest
 * alone) at the same rate, measured in the same run in a phase of its own before the measured one
 * (BENCH_RULES_E2E_DUMP keeps that reader on, for per-snapshot times of every leg).
 */
export const rulesE2eBench: Benchmark = {
  name: 'rules-e2e',
  description: `metrics snapshot -> action-requested latency at ${RATE}/s for ${SECONDS}s through triggers ingest, Kafka and rules`,
  async run(infra) {
    const [triggers, rules] = await Promise.all([
      startService('triggers', infra),
      startService('rules', infra),
    ]);
    const kafka = new Kafka({
      brokers: infra.kafkaBrokers,
      clientId: uniqueName('bench-rules-e2e'),
      logLevel: logLevel.NOTHING,
    });
    const consumers: Consumer[] = [];
    try {
      const admin = `Bearer ${BENCH_ADMIN_TOKEN}`;
      const { orgId } = (await (
        await post(`${triggers.url}/admin/orgs`, admin, { name: uniqueName('bench') })
      ).json()) as { orgId: string };
      const { key } = (await (
        await post(`${triggers.url}/admin/orgs/${orgId}/keys`, admin, { scopes: ['*'] })
      ).json()) as { key: string };
      let writeKey = '';
      await pollUntil(
        async () => {
          const created = await post(`${triggers.url}/v1/sources`, `Bearer ${key}`, { name: 'bench' });
          if (created.status === 201) writeKey = ((await created.json()) as { writeKey: string }).writeKey;
          return created.status === 201;
        },
        30_000,
        'source',
      );
      await pollUntil(
        async () =>
          (
            await post(`${rules.url}/v1/rules`, `Bearer ${key}`, {
              name: 'Pause high CPA campaigns',
              entityType: 'campaign',
              trigger: { kind: 'metrics' },
              conditions: { field: 'metrics.cpa', operator: '>', value: 50 },
              actions: [{ kind: 'pause_campaign' }],
            })
          ).status === 201,
        30_000,
        'rule',
      );

      // Snapshot ids: `r-` the reference phase, `m-` the measured phase, `w-` warm-ups.
      const sentAt = new Map<string, number>();
      const actionLatency: number[] = [];
      const ingestLatency: number[] = [];
      // Per snapshot, when it reached the entity-metrics topic and when its action arrived: the
      // difference is the rules service's own share (consume, evaluate, commit, relay, Kafka).
      const ingestedAt = new Map<string, number>();
      const actedAt = new Map<string, number>();
      const firedAt = new Map<string, number>();
      let referenceActions = 0;
      const dump = process.env.BENCH_RULES_E2E_DUMP;
      // The readers are the measuring stick, not the system under test: batches, and for actions
      // only the fields needed (the envelope's JSON after the registry's 5-byte header), so the
      // bench process does not take CPU from the services on this 2-core machine.
      const read = async (topic: string, onMessage: (key: string, value: Buffer) => void) => {
        // A fetch waits for 16 KiB or 5 ms: a reader fetching whatever single message is there
        // spins the broker through hundreds of tiny fetches a second.
        const consumer = kafka.consumer({
          groupId: uniqueName('bench-reader'),
          maxWaitTimeInMs: 5,
          minBytes: 16_384,
        });
        consumers.push(consumer);
        await consumer.connect();
        await consumer.subscribe({ topic, fromBeginning: false });
        await consumer.run({
          // Nothing reads these groups' offsets again: committing them after every batch cost the
          // broker an offset commit per partition batch, hundreds a second.
          autoCommit: false,
          partitionsConsumedConcurrently: 12,
          eachBatch: async ({ batch }) => {
            for (const message of batch.messages) {
              const k = message.key?.toString() ?? '';
              if (k.startsWith(`${orgId}:`) && message.value) onMessage(k, message.value);
            }
          },
        });
        // Wait for the group to own its partitions before anything is sent.
        await new Promise((r) => setTimeout(r, 3_000));
        return consumer;
      };
      await read(ruleActionsTopic.name, (_k, value) => {
        const envelope = JSON.parse((value[0] === 0 ? value.subarray(5) : value).toString()) as {
          time: string;
          data: ActionRequested;
        };
        const { campaignId } = envelope.data.action as { campaignId: string };
        if (campaignId.startsWith('r-')) referenceActions += 1;
        const t = campaignId.startsWith('m-') ? sentAt.get(campaignId) : undefined;
        if (t !== undefined) {
          const now = Date.now();
          actionLatency.push(now - t);
          actedAt.set(campaignId, now);
          firedAt.set(campaignId, Date.parse(envelope.time));
        }
      });
      const metricsReader = await read(entityMetricsTopic.name, (k) => {
        const id = k.slice(k.lastIndexOf(':') + 1);
        const t = sentAt.get(id);
        if (t !== undefined) {
          const now = Date.now();
          if (id.startsWith('r-')) ingestLatency.push(now - t);
          ingestedAt.set(id, now);
        }
      });

      const auth = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
      let failed = 0;
      const responseMs: number[] = [];
      /** Snapshots at RATE for warm-up plus `seconds`, open loop; the measured ones are `<prefix>-`. */
      const send = async (prefix: string, seconds: number) => {
        const ticks = ((seconds + WARMUP_SECONDS) * 1000) / TICK_MS;
        const warmupTicks = (WARMUP_SECONDS * 1000) / TICK_MS;
        const started = Date.now();
        const inFlight: Array<Promise<unknown>> = [];
        for (let tick = 0; tick < ticks; tick++) {
          const due = started + tick * TICK_MS;
          const wait = due - Date.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          const measured = tick >= warmupTicks;
          const batch = Array.from({ length: PER_TICK }, (_, i) => {
            const id = `${measured ? prefix : 'w'}-${tick}-${i}`;
            return { entityType: 'campaign', entityId: id, metrics: { cpa: 60, spend: 600 } };
          });
          const now = Date.now();
          if (measured) for (const b of batch) sentAt.set(b.entityId, now);
          inFlight.push(
            post(`${triggers.url}/v1/metrics`, auth, { batch }).then(
              (r) => {
                if (prefix === 'm') responseMs.push(Date.now() - now);
                if (r.status !== 200) failed += PER_TICK;
                return r.arrayBuffer();
              },
              () => (failed += PER_TICK),
            ),
          );
        }
        const sendSeconds = (Date.now() - started) / 1000;
        await Promise.all(inFlight);
        return { ticks, warmupTicks, sendSeconds, measured: (ticks - warmupTicks) * PER_TICK };
      };
      const until = async (done: () => boolean) => {
        const deadline = Date.now() + 60_000;
        while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      };

      // Reference first, in the same run: the same snapshots' latency to the entity-metrics
      // topic (ingest alone), read while the rules service does its part. Then that reader
      // stops (unless a dump asks for every snapshot's times), so that measuring the reference
      // does not load the machine during the measured phase.
      const reference = await send('r', REFERENCE_SECONDS);
      await until(() => ingestLatency.length >= reference.measured && referenceActions >= reference.measured);
      if (!dump) await metricsReader.disconnect();

      const cpuAtStart = { triggers: triggers.cpuSeconds(), rules: rules.cpuSeconds() };
      const { ticks, warmupTicks, sendSeconds } = await send('m', SECONDS);
      const expected = [...sentAt.keys()].filter((id) => id.startsWith('m-')).length;
      await until(() => actionLatency.length >= expected && (!dump || ingestedAt.size >= sentAt.size));
      // Each service's CPU from the first snapshot sent to the last action received (or the deadline),
      // per snapshot sent (warm-up included): what the two processes spend per event at this rate.
      const sentTotal = ticks * PER_TICK;
      const cpuPerEvent = (name: 'triggers' | 'rules', service: ServiceUnderTest) => {
        const [before, after] = [cpuAtStart[name], service.cpuSeconds()];
        return before === undefined || after === undefined
          ? 'n/a'
          : Math.round(((after - before) * 1e6) / sentTotal);
      };
      const cpu = { triggers: cpuPerEvent('triggers', triggers), rules: cpuPerEvent('rules', rules) };
      actionLatency.sort((a, b) => a - b);
      responseMs.sort((a, b) => a - b);
      ingestLatency.sort((a, b) => a - b);
      const rulesLatency = [...actedAt]
        .filter(([id]) => ingestedAt.has(id))
        .map(([id, t]) => t - ingestedAt.get(id)!)
        .sort((a, b) => a - b);
      // Per snapshot (send order): sent, on the entity-metrics topic, fired (the action's event
      // time), action received (epoch ms, -1 = never).
      if (dump) {
        const line = ([id, t]: [string, number]) =>
          `${id}\t${t}\t${ingestedAt.get(id) ?? -1}\t${firedAt.get(id) ?? -1}\t${actedAt.get(id) ?? -1}`;
        writeFileSync(
          dump,
          [...sentAt]
            .filter(([id]) => id.startsWith('m-'))
            .map(line)
            .join('\n'),
        );
      }
      if (actionLatency.length === 0) throw new Error('rules-e2e bench: no action-requested arrived');
      return {
        name: 'rules-e2e',
        value: percentile(actionLatency, 99),
        unit: 'ms p99',
        reference: percentile(ingestLatency, 99),
        details: {
          'offered rate (events/s)': Math.round(
            ((ticks - warmupTicks) * PER_TICK) / (sendSeconds - WARMUP_SECONDS),
          ),
          'measured events': expected,
          'refused by ingest': failed,
          'actions received': actionLatency.length,
          'event -> action-requested p50 ms': percentile(actionLatency, 50),
          'event -> action-requested p99 ms': percentile(actionLatency, 99),
          'event -> action-requested max ms': actionLatency[actionLatency.length - 1]!,
          'ingest HTTP response p50 ms': percentile(responseMs, 50),
          'ingest HTTP response p99 ms': percentile(responseMs, 99),
          'reference: event -> entity-metrics topic p50 ms': percentile(ingestLatency, 50),
          'reference: event -> entity-metrics topic p99 ms': percentile(ingestLatency, 99),
          ...(rulesLatency.length > 0
            ? {
                'rules share: entity-metrics topic -> action-requested p50 ms': percentile(rulesLatency, 50),
                'rules share: entity-metrics topic -> action-requested p99 ms': percentile(rulesLatency, 99),
              }
            : {}),
          'triggers CPU us per event': cpu.triggers,
          'rules CPU us per event': cpu.rules,
          // ratio = rules p99 / ingest p99: what rules adds beyond ingest itself (issue 13: <= 2).
          'target ratio': '<= 2',
        },
      };
    } finally {
      await Promise.allSettled(consumers.map((c) => c.disconnect()));
      await Promise.allSettled([triggers.stop(), rules.stop()]);
    }
  },
};
