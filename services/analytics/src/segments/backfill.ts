// A new or changed definition is evaluated over every known contact, a page per timer firing
// (durable: a restart resumes at the cursor), publishing the differences. A newer version's
// backfill replaces the older one's timer (same id).
import { scheduleTimer, type TimerHandler } from '@cmis/platform';
import type { Knex } from 'knex';
import type { Membership } from './membership';
import type { SegmentStore } from './store';

export const BACKFILL_TIMER = 'analytics.segment-backfill';
const PAGE = 500;

type Cursor = { segmentId: string; version: number; after: string };

export const scheduleBackfill = (trx: Knex.Transaction, orgId: string, cursor: Cursor, at: Date) =>
  scheduleTimer(trx, {
    orgId,
    timerId: `seg-backfill:${cursor.segmentId}`,
    kind: BACKFILL_TIMER,
    dueAt: at,
    payload: cursor,
  });

export function backfillHandler(deps: {
  membership: Membership;
  store: SegmentStore;
  now: () => Date;
}): TimerHandler {
  const { membership, store, now } = deps;
  return async (trx, timer) => {
    const cursor = timer.payload as Cursor;
    const current = await store.get(trx, cursor.segmentId);
    if (!current || current.version !== cursor.version) return;
    // This process may not have seen the change's invalidation yet.
    const cached = (await store.compiled.get(timer.orgId)).find((s) => s.segmentId === cursor.segmentId);
    if (cached?.version !== cursor.version) await store.compiled.invalidate(timer.orgId);
    const page = (
      await trx('seg_contacts')
        .where({ org_id: timer.orgId })
        .where('contact_id', '>', cursor.after)
        .orderBy('contact_id')
        .limit(PAGE)
        .select('contact_id')
    ).map((r: { contact_id: string }) => r.contact_id);
    for (const contactId of page)
      await membership.evaluate(
        trx,
        timer.orgId,
        contactId,
        { reason: `the definition changed (version ${cursor.version})` },
        cursor.segmentId,
      );
    if (page.length === PAGE)
      await scheduleBackfill(trx, timer.orgId, { ...cursor, after: page.at(-1)! }, now());
  };
}
