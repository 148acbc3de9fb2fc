import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import {
  createCodec,
  createTopicEnvelope,
  dripSubscriptionsTopic,
  emailMessagesTopic,
  entityMetricsTopic,
  ruleActionsTopic,
  ruleEventsTopic,
  userActionsTopic,
  workflowInstancesTopic,
  type EventEnvelope,
} from '@cmis/contracts';
import {
  createDatabase,
  createKafkaBus,
  platformMigrations,
  startInbox,
  type ApplyEvents,
  type Migration,
  type OutgoingMessage,
} from '@cmis/platform';
import { uniqueName, uniqueSchema } from '@cmis/testkit';
import { Kafka, logLevel } from 'kafkajs';
import { secondsSince, type Benchmark } from './bench';

const EVENTS = 40_000;
const ORGS = 20;

// The analytics projections are loaded from the service's build, as the bench loads services.
interface Projection {
  name: string;
  table: string;
  topics: string[];
  row(envelope: EventEnvelope): Record<string, unknown> | null;
}
interface ProjectionsModule {
  PROJECTIONS: Projection[];
  applyProjection(p: Projection): ApplyEvents;
  projectionMigrations: Migration[];
}
const projectionsModule = (): ProjectionsModule =>
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(resolve(__dirname, '../../services/analytics/dist/projections/index.js')) as ProjectionsModule;

const TOPICS = [
  userActionsTopic,
  entityMetricsTopic,
  ruleEventsTopic,
  ruleActionsTopic,
  emailMessagesTopic,
  workflowInstancesTopic,
  dripSubscriptionsTopic,
];

/** The i-th event of the mix: half email message events, the rest spread over the other streams. */
function eventOf(i: number): { topic: string; type: string; subject: string; data: unknown } {
  const contact = `c-${i % 5_000}`;
  const at = new Date(Date.UTC(2026, 0, 1) + i * 1_000).toISOString();
  const slot = i % 20;
  const origin = { kind: 'workflow', id: `wf-${i % 7}`, stepId: 's1' };
  const msg = { messageId: `msg-${i >> 2}`, idempotencyKey: `k-${i >> 2}`, origin, contactId: contact };
  if (slot < 10) {
    const kinds = ['sent', 'delivered', 'opened', 'clicked'] as const;
    const kind = kinds[slot % 4]!;
    const extra =
      kind === 'sent'
        ? { smtpMessageId: `s-${i}`, provider: 'smtp', attempt: 1, response: '250 ok' }
        : kind === 'delivered'
          ? { provider: 'ses' }
          : kind === 'opened'
            ? { machine: i % 3 === 0 }
            : { machine: false, linkIndex: 0, url: 'https://shop.example/p' };
    return {
      topic: emailMessagesTopic.name,
      type: `cmis.email.message-${kind}`,
      subject: contact,
      data: { ...msg, ...extra },
    };
  }
  const segment = { userId: contact, context: {}, messageId: `m-${i}`, timestamp: at, sourceId: 'bench' };
  if (slot < 14)
    return {
      topic: userActionsTopic.name,
      type: 'cmis.triggers.action-tracked',
      subject: contact,
      data: {
        ...segment,
        event: slot === 10 ? 'Order Completed' : 'Viewed',
        properties: slot === 10 ? { revenue: 42 } : {},
      },
    };
  if (slot < 16)
    return {
      topic: entityMetricsTopic.name,
      type: 'cmis.triggers.entity-metrics-observed',
      subject: `campaign:cmp-${i % 50}`,
      data: {
        entityType: i % 2 ? 'google_ads.campaign' : 'meta_ads.campaign',
        entityId: `cmp-${i % 50}`,
        metrics: { spend: 10, clicks: 40, impressions: 1_000, conversions: 2 },
        observedAt: at,
      },
    };
  const instance = {
    instanceId: `i-${i}`,
    workflowId: `wf-${i % 7}`,
    workflowVersion: 1,
    contactId: contact,
  };
  if (slot < 18)
    return {
      topic: workflowInstancesTopic.name,
      type: 'cmis.workflows.step-completed',
      subject: contact,
      data: { ...instance, stepId: 's1', stepKind: 'email', outcome: 'sent' },
    };
  if (slot === 18)
    return {
      topic: dripSubscriptionsTopic.name,
      type: 'cmis.drip.step-requested',
      subject: contact,
      data: {
        subscriptionId: `sub-${i}`,
        dripId: 'd-1',
        contactId: contact,
        stepId: 'd0',
        dripVersion: 1,
        templateId: 't',
        idempotencyKey: `drip:${i}`,
      },
    };
  return {
    topic: ruleEventsTopic.name,
    type: 'cmis.rules.rule-fired',
    subject: contact,
    data: {
      ruleId: `r-${i % 11}`,
      ruleVersion: 1,
      subject: contact,
      dryRun: false,
      matchedConditions: ['c'],
    },
  };
}

/**
 * Analytics ingest: the projections slice's consumers (decode, validate, dedupe, one transaction
 * per org per batch, multi-row INSERTs) over a mix of result events, beside a plain kafkajs
 * consumer writing the same rows (the slice's own row mapping) with batched INSERTs and none of
 * the guarantees. Target: ratio >= 0.5.
 */
export const analyticsIngestBench: Benchmark = {
  name: 'analytics-ingest',
  description: `analytics-ingest: ${EVENTS} result events (${ORGS} orgs, 6 streams) projected vs a plain kafkajs consumer writing the same rows`,
  async run(infra) {
    const { PROJECTIONS, applyProjection, projectionMigrations } = projectionsModule();
    const codec = createCodec({ registryUrl: infra.schemaRegistryUrl });
    const bus = createKafkaBus({ brokers: infra.kafkaBrokers, clientId: 'bench-analytics' });
    await bus.ensureTopics(TOPICS.map((t) => ({ topic: t.name, numPartitions: t.partitions })));
    const orgs = Array.from({ length: ORGS }, () => randomUUID());

    // Untimed: the events on their topics, encoded as the relays would.
    const byTopic = new Map<string, OutgoingMessage[]>();
    for (let i = 0; i < EVENTS; i++) {
      const orgId = orgs[i % ORGS]!;
      const e = eventOf(i);
      const envelope = createTopicEnvelope(e.topic as never, {
        id: randomUUID(),
        time: new Date(Date.UTC(2026, 0, 1) + i * 1_000).toISOString(),
        source: '/cmis/bench',
        type: e.type as never,
        subject: e.subject,
        orgId,
        data: e.data as never,
      });
      const encoded = await codec.encode(e.topic, envelope as EventEnvelope);
      const list = byTopic.get(e.topic) ?? [];
      list.push({ key: `${orgId}:${e.subject}`, value: encoded.value, headers: encoded.headers });
      byTopic.set(e.topic, list);
    }
    for (const [topic, messages] of byTopic)
      for (let i = 0; i < messages.length; i += 5_000) await bus.publish(topic, messages.slice(i, i + 5_000));
    const kafka = new Kafka({
      brokers: infra.kafkaBrokers,
      clientId: 'bench-analytics-raw',
      logLevel: logLevel.WARN,
    });
    const admin = kafka.admin();
    await admin.connect();
    let total = 0;
    for (const t of TOPICS)
      total += (await admin.fetchTopicOffsets(t.name)).reduce(
        (n, p) => n + Number(p.high) - Number(p.low),
        0,
      );
    await admin.disconnect();

    const db = createDatabase({ url: infra.databaseUrl, schema: uniqueSchema('bench_analytics') });
    const reference = createDatabase({ url: infra.databaseUrl, schema: uniqueSchema('bench_analytics_ref') });
    await db.migrate([...platformMigrations, ...projectionMigrations]);
    await reference.migrate([...platformMigrations, ...projectionMigrations]);

    // Reference: kafkajs, registry framing skipped, no validation, no dedupe, no per-org
    // transaction; the same row mapping, one multi-row INSERT per table per partition batch, in
    // autocommit on the owner's connection.
    const byTopicName = new Map(PROJECTIONS.flatMap((p) => p.topics.map((t) => [t, p] as const)));
    const consumer = kafka.consumer({ groupId: uniqueName('bench-analytics-raw') });
    await consumer.connect();
    for (const t of TOPICS) await consumer.subscribe({ topic: t.name, fromBeginning: true });
    let seen = 0;
    const rawStart = process.hrtime.bigint();
    await new Promise<void>((resolveAll, reject) => {
      void consumer.run({
        partitionsConsumedConcurrently: 4,
        eachBatch: async ({ batch }) => {
          const p = byTopicName.get(batch.topic)!;
          const rows: Array<Record<string, unknown>> = [];
          for (const m of batch.messages) {
            const value = m.value!;
            const envelope = JSON.parse(
              value.subarray(value[0] === 0 ? 5 : 0).toString('utf8'),
            ) as EventEnvelope;
            const row = p.row(envelope);
            if (row) rows.push({ org_id: envelope.orgId, ...row });
          }
          if (rows.length > 0) await reference.owner(p.table).insert(rows).catch(reject);
          seen += batch.messages.length;
          if (seen >= total) resolveAll();
        },
      });
    });
    const rawSeconds = secondsSince(rawStart);
    await consumer.disconnect();

    let applied = 0;
    let allApplied: () => void = () => undefined;
    const done = new Promise<void>((r) => (allApplied = r));
    const start = process.hrtime.bigint();
    const cpuStart = process.cpuUsage();
    const subs = [];
    for (const p of PROJECTIONS) {
      const apply = applyProjection(p);
      subs.push(
        await startInbox({
          bus,
          db,
          codec,
          groupId: uniqueName(`bench-analytics-${p.name}`),
          topics: p.topics,
          apply: async (events, context) => {
            await apply(events, context);
            applied += events.length;
            if (applied >= total) allApplied();
          },
        }),
      );
    }
    await done;
    const seconds = secondsSince(start);
    const cpu = process.cpuUsage(cpuStart);
    await Promise.all(subs.map((s) => s.stop()));
    const counts: Record<string, number> = {};
    for (const p of PROJECTIONS) {
      const [mine] = await db.owner(p.table).count<{ count: string }[]>('* as count');
      const [theirs] = await reference.owner(p.table).count<{ count: string }[]>('* as count');
      if (mine!.count !== theirs!.count)
        throw new Error(`${p.table}: ${mine!.count} rows projected, ${theirs!.count} by the reference`);
      counts[p.table] = Number(mine!.count);
    }
    await bus.close();
    await db.destroy();
    await reference.destroy();
    return {
      name: 'analytics-ingest',
      value: total / seconds,
      unit: 'events/s',
      reference: total / rawSeconds,
      details: {
        messagesOnTopics: total,
        rows: Object.entries(counts)
          .map(([t, n]) => `${t}=${n}`)
          .join(' '),
        projectionSeconds: seconds.toFixed(2),
        cpuMicrosPerEvent: ((cpu.user + cpu.system) / total).toFixed(1),
        referenceSeconds: rawSeconds.toFixed(2),
      },
    };
  },
};
