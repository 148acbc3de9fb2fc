import { randomUUID } from 'node:crypto';
import {
  createDatabase,
  createLogger,
  createTimerPoller,
  platformMigrations,
  timerMigrations,
  withSystem,
  type Database,
} from '@cmis/platform';
import { uniqueName, uniqueSchema } from '@cmis/testkit';
import { secondsSince, type Benchmark } from './bench';
import { appendOnFire } from './timer-firing';
import { BENCH_ADMIN_TOKEN, pollUntil, startServiceProcess } from './service-process';

const COUNT = Number(process.env.BENCH_DRIP_COUNT ?? 100_000);
// The drip service's poller as it runs in production (service.ts without timerBatch): the
// platform defaults, one org at a time. The reference runs the same settings.
const PER_ORG_BATCH = 20;
const BATCH_SIZE = 500;
const CONCURRENCY = 1;
// The moment every step falls due, this far after the load starts (the service runs on the wall
// clock in its own process, so the wave is set in the near future and waited for).
const LEAD_MS = Number(process.env.BENCH_DRIP_LEAD_MS ?? 15_000 + COUNT * 0.25);
const TIMEOUT_MS = Number(process.env.BENCH_DRIP_TIMEOUT_MS ?? 15 * 60_000);
const EMAIL_TYPE = 'cmis.email.send-requested';

const CAMPAIGN = {
  name: 'Burst',
  steps: [
    { id: 's1', templateId: 't1', delay: '0s' },
    { id: 's2', templateId: 't2', delay: '1d' },
  ],
};

/**
 * COUNT subscribers, each as runner.enroll leaves it (contact, enrollment, subscription snapshot
 * waiting for s1, its drip-step timer), written in four statements rather than enrolled one by one.
 */
async function loadSubscribers(db: Database, orgId: string, dripId: string, due: Date): Promise<void> {
  const dueIso = due.toISOString();
  const ids = `from generate_series(1, ${COUNT}) i,
               lateral (select 'c-' || i as contact_id, md5('bench-drip-sub-' || i)::uuid::text as sub_id) x`;
  await withSystem(db.owner, async (trx) => {
    await trx.raw(
      `insert into contacts (org_id, contact_id, traits, email)
       select ?::uuid, x.contact_id, jsonb_build_object('email', x.contact_id || '@example.com'),
              x.contact_id || '@example.com' ${ids}`,
      [orgId],
    );
    await trx.raw(
      `insert into enrollments (org_id, drip_id, contact_id, count, last_enrolled_at, active_subscription_id)
       select ?::uuid, ?, x.contact_id, 1, ?::timestamptz, x.sub_id ${ids}`,
      [orgId, dripId, due],
    );
    await trx.raw(
      `insert into subscriptions (org_id, subscription_id, drip_id, contact_id, status, state, stream_version,
                                  next_step_id, send_at, enrolled_at, updated_at)
       select ?::uuid, x.sub_id, ?, x.contact_id, 'active',
              jsonb_build_object('subscriptionId', x.sub_id, 'dripId', ?::text, 'contactId', x.contact_id,
                                 'status', 'active', 'enrollment', 1, 'enrolledAt', ?::text,
                                 'doneStepIds', '[]'::jsonb, 'nextStepId', 's1', 'dueAt', ?::text,
                                 'sendAt', ?::text),
              0, 's1', ?::timestamptz, ?::timestamptz, ?::timestamptz ${ids}`,
      [orgId, dripId, dripId, dueIso, dueIso, dueIso, due, due, due],
    );
    await trx.raw(
      `insert into timers (org_id, timer_id, kind, due_at, payload)
       select ?::uuid, 'drip:' || x.sub_id, 'drip-step', ?::timestamptz,
              jsonb_build_object('subscriptionId', x.sub_id) ${ids}`,
      [orgId, due],
    );
  });
  for (const table of ['contacts', 'enrollments', 'subscriptions', 'timers']) {
    await db.owner.raw(`vacuum analyze ${table}`);
  }
}

/** Reference: COUNT due timers of one org fired by one poller with the drip service's settings. */
async function bareTimers(url: string): Promise<number> {
  const db = createDatabase({ url, schema: uniqueSchema('bench_drip_timers'), poolMax: CONCURRENCY + 1 });
  try {
    await db.migrate([...platformMigrations, ...timerMigrations]);
    const orgId = randomUUID();
    await withSystem(db.owner, (trx) =>
      trx.raw(
        `insert into timers (org_id, timer_id, kind, due_at, payload)
         select ?::uuid, 'wait-' || i, 'wait-timeout', now() - interval '1 hour', jsonb_build_object('step', i)
           from generate_series(1, ?) i`,
        [orgId, COUNT],
      ),
    );
    await db.owner.raw('vacuum analyze timers');
    const poller = createTimerPoller({
      db,
      logger: createLogger({ service: 'bench-drip-timers', level: 'warn' }),
      service: 'bench',
      handlers: { 'wait-timeout': appendOnFire(db) },
      perOrgBatch: PER_ORG_BATCH,
      batchSize: BATCH_SIZE,
      concurrency: CONCURRENCY,
    });
    await db.app.raw('select 1');
    const start = process.hrtime.bigint();
    let fired = 0;
    while (fired < COUNT) {
      const n = await poller.runOnce();
      fired += n;
      if (n === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return secondsSince(start);
  } finally {
    await db.owner.raw(`drop schema if exists ${db.schema} cascade`).catch(() => undefined);
    await db.destroy();
  }
}

/**
 * A due wave in the drip service: COUNT subscribers whose first step falls due at the same
 * moment, the service (its own process) firing each one's timer: step-requested, step-due and the
 * email request appended, the next timer set, the snapshot updated; measured from that moment
 * until every email request is committed and published by the outbox relay. Beside it, the
 * platform timers' bare fire rate (one event appended a firing) with the same poller settings.
 */
export const dripBurstBench: Benchmark = {
  name: 'drip-burst',
  description: `drip due wave: ${COUNT} subscribers due at once → email requests published vs ${COUNT} bare timer firings (one event each), same poller settings`,
  async run(infra) {
    const referenceSeconds = await bareTimers(infra.databaseUrl);
    const reference = COUNT / referenceSeconds;

    const service = await startServiceProcess('drip', infra, process.env.BENCH_DRIP_NODE_ARGS);
    const db = createDatabase({ url: infra.databaseUrl, schema: 'drip' });
    try {
      const call = async (path: string, token: string, body?: unknown) => {
        const res = await fetch(`${service.url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await res.text();
        if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${text}`);
        return (text ? JSON.parse(text) : {}) as Record<string, string>;
      };
      const { orgId } = await call('/admin/orgs', BENCH_ADMIN_TOKEN, { name: uniqueName('bench') });
      const { key } = await call(`/admin/orgs/${orgId}/keys`, BENCH_ADMIN_TOKEN, {
        scopes: ['drip:read', 'drip:write'],
      });
      let dripId = '';
      await pollUntil(
        async () => {
          const res = await fetch(`${service.url}/v1/drips`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${key!}` },
            body: JSON.stringify(CAMPAIGN),
          });
          if (res.status === 401) return false;
          if (res.status !== 201) throw new Error(`POST /v1/drips: ${res.status} ${await res.text()}`);
          dripId = ((await res.json()) as { dripId: string }).dripId;
          return true;
        },
        30_000,
        'drip API key',
      );
      await call(`/v1/drips/${dripId}/activate`, key!);

      const due = new Date(Date.now() + LEAD_MS);
      const loadStart = process.hrtime.bigint();
      await loadSubscribers(db, orgId!, dripId, due);
      const loadSeconds = secondsSince(loadStart);
      if (Date.now() > due.getTime() - 1_000) {
        throw new Error(`loading took ${loadSeconds.toFixed(1)} s, past the wave; raise BENCH_DRIP_LEAD_MS`);
      }
      const cpuBefore = service.cpuSeconds();
      await new Promise((resolve) => setTimeout(resolve, due.getTime() - Date.now()));
      const start = process.hrtime.bigint();
      const counts = async () => {
        const { rows } = await db.owner.raw<{ rows: Array<{ requested: string; pending: string }> }>(
          `select (select count(*) from events where type = ?) as requested,
                  (select count(*) from outbox_pending) as pending`,
          [EMAIL_TYPE],
        );
        return { requested: Number(rows[0]!.requested), pending: Number(rows[0]!.pending) };
      };
      let requestedSeconds: number | undefined;
      let publishedSeconds: number | undefined;
      while (publishedSeconds === undefined) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        const { requested, pending } = await counts();
        if (requested >= COUNT) requestedSeconds ??= secondsSince(start);
        if (requested >= COUNT && pending === 0) publishedSeconds = secondsSince(start);
        if (secondsSince(start) * 1000 > TIMEOUT_MS) {
          throw new Error(
            `after ${TIMEOUT_MS} ms: ${requested} of ${COUNT} requested, ${pending} unpublished`,
          );
        }
      }
      const cpuAfter = service.cpuSeconds();
      const { rows } = await db.owner.raw<{ rows: Array<{ next: string; timers: string }> }>(
        `select (select count(*) from subscriptions where next_step_id = 's2') as next,
                (select count(*) from timers where due_at > ?) as timers`,
        [due],
      );
      if (Number(rows[0]!.next) !== COUNT || Number(rows[0]!.timers) !== COUNT) {
        throw new Error(
          `${rows[0]!.next} subscriptions at s2 and ${rows[0]!.timers} next timers of ${COUNT}`,
        );
      }
      const memory = service.memoryMb();
      return {
        name: 'drip-burst',
        value: COUNT / publishedSeconds,
        unit: 'requests/s',
        reference,
        details: {
          count: COUNT,
          poller: `one service process, ${PER_ORG_BATCH} timers per org and transaction, ${CONCURRENCY} org at a time (the reference the same, one org)`,
          loadSeconds: loadSeconds.toFixed(1),
          requestedSeconds: requestedSeconds!.toFixed(1),
          requestedPerSecond: (COUNT / requestedSeconds!).toFixed(1),
          publishedSeconds: publishedSeconds.toFixed(1),
          referenceSeconds: referenceSeconds.toFixed(1),
          ...(cpuBefore !== undefined && cpuAfter !== undefined
            ? { serviceCpuMsPerRequest: (((cpuAfter - cpuBefore) * 1000) / COUNT).toFixed(3) }
            : {}),
          ...(memory ? { servicePeakRssMb: memory.peak.toFixed(0) } : {}),
        },
      };
    } finally {
      await db.destroy();
      await service.stop();
    }
  },
};
