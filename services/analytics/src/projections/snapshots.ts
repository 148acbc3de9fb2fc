// Measures published per org and period on cmis.analytics.measures.v1 (any Kafka client can read
// them): at each period's end a durable timer of the org computes its email counts and rates and
// its rules' effectiveness over the period from the projections, appends the event (published by
// the outbox) and schedules the next period, all in the timer's transaction. An org's first
// projected event starts its timer; a period with nothing in it publishes nothing.
import { analyticsMeasuresTopic, type MeasuresPublished } from '@cmis/contracts';
import { scheduleTimer, stableId, type ServiceRuntime, type TimerHandler } from '@cmis/platform';
import type { Knex } from 'knex';
import { emailMeasures } from './measures';
import { emailCounts, ruleCounts } from './queries';

export const MEASURES_TIMER = 'measures-snapshot';
export const DEFAULT_MEASURES_PERIOD_MS = 60 * 60_000;
const TIMER_ID = 'measures';

/** The end of the period `at` falls in (periods are aligned to the epoch: whole hours by default). */
export const periodEndAfter = (at: Date, periodMs: number) =>
  new Date(Math.floor(at.getTime() / periodMs) * periodMs + periodMs);

export function createMeasureSnapshots(deps: { rt: ServiceRuntime; now: () => Date; periodMs?: number }) {
  const { rt, now } = deps;
  const periodMs = deps.periodMs ?? DEFAULT_MEASURES_PERIOD_MS;
  // Orgs known to have their timer in this process; a miss costs one lookup.
  const started = new Set<string>();

  const schedule = (trx: Knex.Transaction, orgId: string, dueAt: Date) =>
    scheduleTimer(trx, { orgId, timerId: TIMER_ID, kind: MEASURES_TIMER, dueAt });

  return {
    /** After an org's batch is projected: its timer exists (once per process and org). */
    async ensureStarted(trx: Knex.Transaction, orgId: string) {
      if (started.has(orgId)) return;
      const exists = await trx('timers').where({ org_id: orgId, timer_id: TIMER_ID }).first('timer_id');
      if (!exists) await schedule(trx, orgId, periodEndAfter(now(), periodMs));
      started.add(orgId);
    },

    fire: (async (trx, timer) => {
      const periodEnd = new Date(Math.floor(timer.dueAt.getTime() / periodMs) * periodMs);
      const periodStart = new Date(periodEnd.getTime() - periodMs);
      const range = { from: periodStart, to: periodEnd };
      const email = emailMeasures(await emailCounts(trx, range));
      const rules = await ruleCounts(trx, range);
      const quiet =
        rules.length === 0 &&
        email.requested === 0 &&
        email.sent === 0 &&
        email.delivered === 0 &&
        email.uniqueOpens === 0 &&
        email.uniqueClicks === 0 &&
        email.bounces === 0;
      if (!quiet) {
        const data: MeasuresPublished = {
          periodStart: periodStart.toISOString(),
          periodEnd: periodEnd.toISOString(),
          email: {
            requested: email.requested,
            sent: email.sent,
            delivered: email.delivered,
            uniqueOpens: email.uniqueOpens,
            uniqueClicks: email.uniqueClicks,
            machineOpens: email.machineOpens,
            machineClicks: email.machineClicks,
            bounces: email.bounces,
            complaints: email.complaints,
            unsubscribes: email.unsubscribes,
            openRate: email.rates.open,
            clickRate: email.rates.click,
            bounceRate: email.rates.bounce,
            complaintRate: email.rates.complaint,
          },
          rules,
        };
        await rt.eventStore.append(trx, {
          orgId: timer.orgId,
          streamType: 'analytics-measures',
          streamId: timer.orgId,
          expectedVersion: 'any',
          events: [
            {
              id: stableId('analytics-measures', timer.orgId, periodEnd.toISOString()),
              type: 'cmis.analytics.measures-published',
              data,
              metadata: rt.eventMetadata(),
              topic: analyticsMeasuresTopic.name,
              key: `${timer.orgId}:${timer.orgId}`,
              occurredAt: periodEnd,
            },
          ],
        });
      }
      // The next period's end, and never one already past (a late firing catches up one period at a time).
      await schedule(trx, timer.orgId, new Date(periodEnd.getTime() + periodMs));
    }) satisfies TimerHandler,
  };
}
export type MeasureSnapshots = ReturnType<typeof createMeasureSnapshots>;
