// RFM kept in Postgres: an order re-scores its contact against the org's buyers at once; the
// daily aging timer (and a window change) re-scores every buyer. A move to another named
// segment is an rfm-changed event (outbox, same transaction).
import { segmentEventsTopic, type RfmChanged } from '@cmis/contracts';
import { scheduleTimer, type NewEvent, type ServiceRuntime } from '@cmis/platform';
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import {
  DAY_MS,
  DEFAULT_WINDOW_DAYS,
  LAPSED,
  scoreAll,
  scoreOne,
  valuesOf,
  type RfmScore,
  type RfmSegment,
  type RfmValues,
} from './scoring';

export const AGING_TIMER = 'analytics.rfm-aging';
export const RFM_STREAM = 'analytics-rfm';

type ScoreRow = {
  contact_id: string;
  last_order_at: Date;
  orders: number;
  revenue: string;
  recency: number;
  frequency: number;
  monetary: number;
  segment: RfmSegment;
  in_window: boolean;
};

export function createRfm(deps: { rt: ServiceRuntime; now: () => Date }) {
  const { rt, now } = deps;

  async function windowDaysOf(trx: Knex.Transaction, orgId: string): Promise<number> {
    const row = await trx('rfm_settings').where({ org_id: orgId }).first('window_days');
    if (row) return row.window_days as number;
    // The org's first order: default settings and its daily aging.
    await trx('rfm_settings')
      .insert({ org_id: orgId, window_days: DEFAULT_WINDOW_DAYS })
      .onConflict('org_id')
      .ignore();
    await scheduleAging(trx, orgId);
    return DEFAULT_WINDOW_DAYS;
  }

  const scheduleAging = (trx: Knex.Transaction, orgId: string) =>
    scheduleTimer(trx, {
      orgId,
      timerId: 'rfm-aging',
      kind: AGING_TIMER,
      dueAt: new Date(now().getTime() + DAY_MS),
    });

  const valuesOfRow = (r: ScoreRow, at: Date): RfmValues => ({
    contactId: r.contact_id,
    recencyDays: Math.floor((at.getTime() - r.last_order_at.getTime()) / DAY_MS),
    orders: r.orders,
    revenue: Number(r.revenue),
  });

  /** Writes a contact's values and score; an rfm-changed event when its segment moved. */
  async function record(
    trx: Knex.Transaction,
    orgId: string,
    values: RfmValues & { lastOrderAt: Date },
    score: RfmScore,
    inWindow: boolean,
    previous: RfmSegment | undefined,
    events: NewEvent[],
    chain?: { correlationId?: string; causationId?: string },
  ) {
    const at = now();
    await trx('rfm_scores')
      .insert({
        org_id: orgId,
        contact_id: values.contactId,
        last_order_at: values.lastOrderAt,
        orders: values.orders,
        revenue: values.revenue,
        ...score,
        in_window: inWindow,
        updated_at: at,
      })
      .onConflict(['org_id', 'contact_id'])
      .merge();
    if (previous === score.segment) return;
    const data: RfmChanged = {
      contactId: values.contactId,
      ...score,
      ...(previous ? { previousSegment: previous } : {}),
    };
    events.push({
      id: randomUUID(),
      type: 'cmis.analytics.rfm-changed',
      data,
      metadata: rt.eventMetadata(chain),
      topic: segmentEventsTopic.name,
      key: `${orgId}:${values.contactId}`,
      occurredAt: at,
    });
  }

  async function flush(trx: Knex.Transaction, orgId: string, events: NewEvent[]) {
    // One stream per contact: the subject of each event is its contact.
    const byContact = new Map<string, NewEvent[]>();
    for (const e of events) {
      const contactId = (e.data as RfmChanged).contactId;
      byContact.set(contactId, [...(byContact.get(contactId) ?? []), e]);
    }
    for (const [contactId, list] of byContact)
      await rt.eventStore.append(trx, {
        orgId,
        streamType: RFM_STREAM,
        streamId: contactId,
        expectedVersion: 'any',
        events: list,
      });
    if (events.length > 0)
      void trx.executionPromise.then(
        () => rt.relay.wake(),
        () => undefined,
      );
  }

  return {
    /** An order arrived: store it and re-score its contact against the org's buyers. */
    async order(
      trx: Knex.Transaction,
      orgId: string,
      contactId: string,
      order: { at: Date; amount: number },
      chain?: { correlationId?: string; causationId?: string },
    ) {
      await trx('rfm_orders').insert({
        org_id: orgId,
        contact_id: contactId,
        at: order.at,
        amount: order.amount,
      });
      const windowDays = await windowDaysOf(trx, orgId);
      const at = now();
      const orders = (
        await trx('rfm_orders')
          .where({ org_id: orgId, contact_id: contactId })
          .where('at', '>', new Date(at.getTime() - windowDays * DAY_MS))
          .select('at', 'amount')
      ).map((o: { at: Date; amount: string }) => ({ at: o.at, amount: Number(o.amount) }));
      // An order stamped a little ahead of the service's clock still counts as now.
      const values = valuesOf(
        contactId,
        orders,
        new Date(Math.max(at.getTime(), order.at.getTime())),
        windowDays,
      );
      if (!values) return;
      const lastOrderAt = new Date(Math.max(...orders.map((o) => o.at.getTime())));
      const rows = (await trx('rfm_scores').where({ org_id: orgId, in_window: true })) as ScoreRow[];
      const previous =
        rows.find((r) => r.contact_id === contactId)?.segment ??
        ((await trx('rfm_scores').where({ org_id: orgId, contact_id: contactId }).first('segment'))
          ?.segment as RfmSegment | undefined);
      const population = [
        ...rows.filter((r) => r.contact_id !== contactId).map((r) => valuesOfRow(r, at)),
        values,
      ];
      const events: NewEvent[] = [];
      await record(
        trx,
        orgId,
        { ...values, lastOrderAt },
        scoreOne(values, population),
        true,
        previous,
        events,
        chain,
      );
      await flush(trx, orgId, events);
    },

    /** Re-scores every buyer of the org (daily aging, a window change). */
    async rescoreOrg(trx: Knex.Transaction, orgId: string): Promise<number> {
      const windowDays = await windowDaysOf(trx, orgId);
      const at = now();
      const aggregates = (await trx('rfm_orders')
        .where({ org_id: orgId })
        .where('at', '>', new Date(at.getTime() - windowDays * DAY_MS))
        .groupBy('contact_id')
        .select(
          'contact_id',
          trx.raw('count(*)::int as orders'),
          trx.raw('sum(amount) as revenue'),
          trx.raw('max(at) as last'),
        )) as {
        contact_id: string;
        orders: number;
        revenue: string;
        last: Date;
      }[];
      const population = aggregates.map((a) => ({
        contactId: a.contact_id,
        recencyDays: Math.floor((at.getTime() - a.last.getTime()) / DAY_MS),
        orders: a.orders,
        revenue: Number(a.revenue),
        lastOrderAt: a.last,
      }));
      const scores = scoreAll(population);
      const existing = new Map(
        ((await trx('rfm_scores').where({ org_id: orgId })) as ScoreRow[]).map((r) => [r.contact_id, r]),
      );
      const events: NewEvent[] = [];
      for (const p of population) {
        const was = existing.get(p.contactId);
        const score = scores.get(p.contactId)!;
        const same =
          was &&
          was.recency === score.recency &&
          was.frequency === score.frequency &&
          was.monetary === score.monetary &&
          was.orders === p.orders &&
          Number(was.revenue) === p.revenue &&
          was.in_window;
        if (!same) await record(trx, orgId, p, score, true, was?.segment, events);
        existing.delete(p.contactId);
      }
      // Buyers whose orders all left the window.
      for (const was of existing.values())
        if (was.in_window)
          await record(
            trx,
            orgId,
            { ...valuesOfRow(was, at), lastOrderAt: was.last_order_at },
            LAPSED,
            false,
            was.segment,
            events,
          );
      await flush(trx, orgId, events);
      return events.length;
    },
    windowDaysOf,
    scheduleAging,
  };
}
export type Rfm = ReturnType<typeof createRfm>;
