// Evaluates one contact against the org's segments from the projections, records who is in,
// and publishes each entry and exit (appended in the caller's transaction: the outbox). One
// timer per contact wakes it when a windowed leaf would next change with time alone.
import { segmentEventsTopic, type SegmentEntered, type SegmentExited } from '@cmis/contracts';
import { cancelTimer, scheduleTimer, type NewEvent, type ServiceRuntime } from '@cmis/platform';
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { DAY_MS, type CompiledSegment, type ContactFacts, type EventSource } from './definition';
import type { SegmentStore } from './store';

export const WINDOW_TIMER = 'analytics.segment-window';
export const MEMBERSHIP_STREAM = 'analytics-segment-membership';
const windowTimerId = (contactId: string) => `seg-window:${contactId}`;

export interface Cause {
  /** The event that caused the evaluation, if one did. */
  causeId?: string;
  /** Why a contact left, when it does: an event, time passing, the definition changed. */
  reason: string;
  chain?: { correlationId?: string; causationId?: string };
}

async function factsOf(
  trx: Knex.Transaction,
  orgId: string,
  contactId: string,
  segments: CompiledSegment[],
  now: number,
): Promise<ContactFacts> {
  const windowDays = Math.max(0, ...segments.map((s) => s.windowDays));
  const [contact, events, rfm, lists] = await Promise.all([
    trx('seg_contacts').where({ org_id: orgId, contact_id: contactId }).first('traits'),
    windowDays === 0
      ? []
      : trx('seg_events')
          .where({ org_id: orgId, contact_id: contactId })
          .where('at', '>', new Date(now - windowDays * DAY_MS))
          .orderBy('at', 'desc')
          .limit(10_000)
          .select('source', 'event', 'at'),
    trx('seg_rfm').where({ org_id: orgId, contact_id: contactId }).first('segment'),
    trx('seg_list_members').where({ org_id: orgId, contact_id: contactId }).select('list_id'),
  ]);
  return {
    traits: (contact?.traits as Record<string, unknown> | undefined) ?? {},
    events: events.map((e: { source: EventSource; event: string; at: Date }) => ({
      source: e.source,
      event: e.event,
      at: e.at.getTime(),
    })),
    ...(rfm ? { rfmSegment: rfm.segment as string } : {}),
    lists: new Set(lists.map((l: { list_id: string }) => l.list_id)),
  };
}

export function createMembership(deps: { rt: ServiceRuntime; store: SegmentStore; now: () => Date }) {
  const { rt, store, now } = deps;

  /** Records a contact as known (the backfill walks these) without touching its traits. */
  const know = (trx: Knex.Transaction, orgId: string, contactIds: string[]) =>
    contactIds.length === 0
      ? Promise.resolve()
      : trx('seg_contacts')
          .insert(contactIds.map((contact_id) => ({ org_id: orgId, contact_id, traits: '{}' })))
          .onConflict(['org_id', 'contact_id'])
          .ignore();

  /**
   * Evaluates the contact against the org's segments (or only `only`, for a backfill) and
   * publishes what changed. Returns the number of entries and exits.
   */
  async function evaluate(
    trx: Knex.Transaction,
    orgId: string,
    contactId: string,
    cause: Cause,
    only?: string,
  ): Promise<number> {
    const segments = await store.compiled.get(orgId);
    if (segments.length === 0) return 0;
    const at = now();
    const t = at.getTime();
    const facts = await factsOf(trx, orgId, contactId, segments, t);
    const members = new Map<string, number>(
      (
        await trx('seg_members')
          .where({ org_id: orgId, contact_id: contactId })
          .select('segment_id', 'version')
      ).map((r: { segment_id: string; version: number }) => [r.segment_id, r.version]),
    );
    const events: NewEvent[] = [];
    const metadata = rt.eventMetadata(cause.chain);
    const publish = (type: string, data: SegmentEntered | SegmentExited) =>
      events.push({
        id: randomUUID(),
        type,
        data,
        metadata,
        topic: segmentEventsTopic.name,
        key: `${orgId}:${contactId}`,
        occurredAt: at,
      });
    const entered: Record<string, unknown>[] = [];
    const left: string[] = [];
    let next: number | undefined;
    for (const s of segments) {
      const change = s.nextChangeAt(facts, t);
      if (change !== undefined && (next === undefined || change < next)) next = change;
      if (only && s.segmentId !== only) continue;
      const inside = s.matches(facts, t);
      const was = members.get(s.segmentId);
      const ref = { segmentId: s.segmentId, segmentVersion: s.version, contactId };
      const causeId = cause.causeId ? { causeId: cause.causeId } : {};
      if (inside && was === undefined) {
        entered.push({
          org_id: orgId,
          segment_id: s.segmentId,
          contact_id: contactId,
          version: s.version,
          entered_at: at,
        });
        publish('cmis.analytics.segment-entered', { ...ref, ...causeId });
      } else if (!inside && was !== undefined) {
        left.push(s.segmentId);
        publish('cmis.analytics.segment-exited', { ...ref, ...causeId, reason: cause.reason });
      } else if (inside && was !== s.version) {
        await trx('seg_members')
          .where({ org_id: orgId, segment_id: s.segmentId, contact_id: contactId })
          .update({ version: s.version });
      }
    }
    if (entered.length > 0) await trx('seg_members').insert(entered);
    if (left.length > 0)
      await trx('seg_members')
        .where({ org_id: orgId, contact_id: contactId })
        .whereIn('segment_id', left)
        .delete();
    if (next !== undefined)
      await scheduleTimer(trx, {
        orgId,
        timerId: windowTimerId(contactId),
        kind: WINDOW_TIMER,
        // A moment past the edge, so the event that leaves is out of the window when it fires.
        dueAt: new Date(next + 1),
        payload: { contactId },
      });
    else await cancelTimer(trx, orgId, windowTimerId(contactId));
    if (events.length > 0) {
      await rt.eventStore.append(trx, {
        orgId,
        streamType: MEMBERSHIP_STREAM,
        streamId: contactId,
        expectedVersion: 'any',
        events,
      });
      void trx.executionPromise.then(
        () => rt.relay.wake(),
        () => undefined,
      );
    }
    return events.length;
  }

  return { evaluate, know };
}
export type Membership = ReturnType<typeof createMembership>;
