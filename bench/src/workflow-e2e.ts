import { writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { emailRequestsTopic, userActionsTopic } from '@cmis/contracts';
import { uniqueName, type Infra } from '@cmis/testkit';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import type { Benchmark } from './bench';
import { BENCH_ADMIN_TOKEN, pollUntil, startServiceProcess } from './service-process';

// Events per second; the env override is for finding where the pipeline saturates.
const RATE = Number(process.env.BENCH_WORKFLOW_E2E_RATE ?? 1_000);
const SECONDS = 10;
const REFERENCE_SECONDS = 5;
const WARMUP_SECONDS = 2;
const TICK_MS = 10;
const PER_TICK = Math.max(1, Math.round((RATE * TICK_MS) / 1000));
const EVENT = 'bench_event';

interface ServiceUnderTest {
  url: string;
  cpuSeconds(): number | undefined;
  stop(): Promise<void>;
}

/** A service as in production (see service-process.ts); BENCH_WORKFLOW_E2E_NODE_ARGS profiles it. */
const startService = (name: 'triggers' | 'workflows', infra: Infra): Promise<ServiceUnderTest> =>
  startServiceProcess(name, infra, process.env.BENCH_WORKFLOW_E2E_NODE_ARGS);

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
 * Event → email-requested latency at 1,000 track calls/s: POST /v1/batch on triggers, Kafka, the
 * workflows service (its own process) entering each contact into a one-step workflow (send_email)
 * in one transaction, its outbox, Kafka again, a plain kafkajs reader of cmis.email.requests.v1.
 * Every call is a contact of its own (keys spread over the partitions; every entry a new
 * enrollment). Reference: the same calls' latency to cmis.triggers.user-actions.v1 (ingest alone)
 * at the same rate, measured in the same run in a phase of its own before the measured one
 * (BENCH_WORKFLOW_E2E_DUMP keeps that reader on, for per-event times of every leg).
 */
export const workflowE2eBench: Benchmark = {
  name: 'workflow-e2e',
  description: `track call -> email-requested latency at ${RATE}/s for ${SECONDS}s through triggers ingest, Kafka and a one-step workflow`,
  async run(infra) {
    const [triggers, workflows] = await Promise.all([
      startService('triggers', infra),
      startService('workflows', infra),
    ]);
    const kafka = new Kafka({
      brokers: infra.kafkaBrokers,
      clientId: uniqueName('bench-workflow-e2e'),
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
          scopes: ['workflows:read', 'workflows:write', 'triggers:manage', 'triggers:read'],
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
      let workflowId = '';
      await pollUntil(
        async () => {
          const created = await post(`${workflows.url}/v1/workflows`, bearer, {
            name: 'bench',
            entry: { event: EVENT },
            start: 'mail',
            steps: [{ id: 'mail', kind: 'send_email', templateId: 'bench' }],
            reentry: { policy: 'always', concurrent: true },
          });
          if (created.status === 201)
            workflowId = ((await created.json()) as { workflowId: string }).workflowId;
          return created.status === 201;
        },
        30_000,
        'workflow',
      );
      const published = await post(`${workflows.url}/v1/workflows/${workflowId}/publish`, bearer);
      if (published.status !== 201)
        throw new Error(
          `workflow-e2e bench: publish answered ${published.status}: ${await published.text()}`,
        );

      // Contact ids: `r-` the reference phase, `m-` the measured phase, `w-` warm-ups; one call each.
      const sentAt = new Map<string, number>();
      const emailLatency: number[] = [];
      const ingestLatency: number[] = [];
      // Per event, when it reached the user-actions topic and when its email request arrived: the
      // difference is the workflows service's own share (consume, enroll, commit, relay, Kafka).
      const ingestedAt = new Map<string, number>();
      const requestedAt = new Map<string, number>();
      const firedAt = new Map<string, number>();
      let referenceEmails = 0;
      let mismatched = 0;
      const dump = process.env.BENCH_WORKFLOW_E2E_DUMP;
      // The readers are the measuring stick, not the system under test: batches, and for email
      // requests only the fields needed (the envelope's JSON after the registry's 5-byte header).
      const read = async (topic: string, onMessage: (contactId: string, value: Buffer) => void) => {
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
          // Nothing reads these groups' offsets again.
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
      await read(emailRequestsTopic.name, (contactId, value) => {
        const now = Date.now();
        const envelope = JSON.parse((value[0] === 0 ? value.subarray(5) : value).toString()) as {
          type: string;
          time: string;
          data: { data?: { event?: { properties?: { sentAt?: number } } } };
        };
        if (envelope.type !== 'cmis.email.send-requested') return;
        if (contactId.startsWith('r-')) referenceEmails += 1;
        if (!contactId.startsWith('m-')) return;
        // The entry event's properties ride along in the request (data.data.event.properties).
        const t = envelope.data.data?.event?.properties?.sentAt;
        if (t === undefined || t !== sentAt.get(contactId)) mismatched += 1;
        if (t === undefined || requestedAt.has(contactId)) return;
        emailLatency.push(now - t);
        requestedAt.set(contactId, now);
        firedAt.set(contactId, Date.parse(envelope.time));
      });
      const actionsReader = await read(userActionsTopic.name, (contactId) => {
        const t = sentAt.get(contactId);
        if (t !== undefined) {
          const now = Date.now();
          if (contactId.startsWith('r-')) ingestLatency.push(now - t);
          ingestedAt.set(contactId, now);
        }
      });

      const auth = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
      let failed = 0;
      const responseMs: number[] = [];
      /** Track calls at RATE for warm-up plus `seconds`, open loop; the measured ones are `<prefix>-`. */
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
          const now = Date.now();
          const batch = Array.from({ length: PER_TICK }, (_, i) => {
            const userId = `${measured ? prefix : 'w'}-${tick}-${i}`;
            return {
              type: 'track',
              userId,
              event: EVENT,
              messageId: randomUUID(),
              timestamp: new Date(now).toISOString(),
              properties: { sentAt: now, item: 'teapot', revenue: 42.5 },
            };
          });
          if (measured) for (const b of batch) sentAt.set(b.userId, now);
          inFlight.push(
            post(`${triggers.url}/v1/batch`, auth, { batch }).then(
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

      // Reference first, in the same run: the same calls' latency to the user-actions topic
      // (ingest alone), read while the workflows service does its part. Then that reader stops
      // (unless a dump asks for every event's times), so that measuring the reference does not
      // load the machine during the measured phase.
      const reference = await send('r', REFERENCE_SECONDS);
      await until(() => ingestLatency.length >= reference.measured && referenceEmails >= reference.measured);
      if (!dump) await actionsReader.disconnect();

      const cpuAtStart = { triggers: triggers.cpuSeconds(), workflows: workflows.cpuSeconds() };
      const { ticks, warmupTicks, sendSeconds } = await send('m', SECONDS);
      const expected = [...sentAt.keys()].filter((id) => id.startsWith('m-')).length;
      await until(() => emailLatency.length >= expected && (!dump || ingestedAt.size >= sentAt.size));
      // Each service's CPU from the first call sent to the last request received (or the deadline),
      // per call sent (warm-up included): what the two processes spend per event at this rate.
      const sentTotal = ticks * PER_TICK;
      const cpuPerEvent = (name: 'triggers' | 'workflows', service: ServiceUnderTest) => {
        const [before, after] = [cpuAtStart[name], service.cpuSeconds()];
        return before === undefined || after === undefined
          ? 'n/a'
          : Math.round(((after - before) * 1e6) / sentTotal);
      };
      const cpu = {
        triggers: cpuPerEvent('triggers', triggers),
        workflows: cpuPerEvent('workflows', workflows),
      };
      emailLatency.sort((a, b) => a - b);
      responseMs.sort((a, b) => a - b);
      ingestLatency.sort((a, b) => a - b);
      const workflowsLatency = [...requestedAt]
        .filter(([id]) => ingestedAt.has(id))
        .map(([id, t]) => t - ingestedAt.get(id)!)
        .sort((a, b) => a - b);
      // Per event (send order): sent, on the user-actions topic, requested (the email request's
      // event time), request received (epoch ms, -1 = never).
      if (dump) {
        const line = ([id, t]: [string, number]) =>
          `${id}\t${t}\t${ingestedAt.get(id) ?? -1}\t${firedAt.get(id) ?? -1}\t${requestedAt.get(id) ?? -1}`;
        writeFileSync(
          dump,
          [...sentAt]
            .filter(([id]) => id.startsWith('m-'))
            .map(line)
            .join('\n'),
        );
      }
      if (emailLatency.length === 0) throw new Error('workflow-e2e bench: no email request arrived');
      return {
        name: 'workflow-e2e',
        value: percentile(emailLatency, 99),
        unit: 'ms p99',
        reference: percentile(ingestLatency, 99),
        details: {
          'offered rate (events/s)': Math.round(
            ((ticks - warmupTicks) * PER_TICK) / (sendSeconds - WARMUP_SECONDS),
          ),
          'measured events': expected,
          'refused by ingest': failed,
          'email requests received': emailLatency.length,
          'email requests not carrying their sentAt': mismatched,
          'event -> email-requested p50 ms': percentile(emailLatency, 50),
          'event -> email-requested p99 ms': percentile(emailLatency, 99),
          'event -> email-requested max ms': emailLatency[emailLatency.length - 1]!,
          'ingest HTTP response p50 ms': percentile(responseMs, 50),
          'ingest HTTP response p99 ms': percentile(responseMs, 99),
          'reference: event -> user-actions topic p50 ms': percentile(ingestLatency, 50),
          'reference: event -> user-actions topic p99 ms': percentile(ingestLatency, 99),
          ...(workflowsLatency.length > 0
            ? {
                'workflows share: user-actions topic -> email-requested p50 ms': percentile(
                  workflowsLatency,
                  50,
                ),
                'workflows share: user-actions topic -> email-requested p99 ms': percentile(
                  workflowsLatency,
                  99,
                ),
              }
            : {}),
          'triggers CPU us per event': cpu.triggers,
          'workflows CPU us per event': cpu.workflows,
          // ratio = workflow p99 / ingest p99: what workflows adds beyond ingest itself (target <= 2).
          'target ratio': '<= 2',
        },
      };
    } finally {
      await Promise.allSettled(consumers.map((c) => c.disconnect()));
      await Promise.allSettled([triggers.stop(), workflows.stop()]);
    }
  },
};
