// What happens when rules matched: cooldown and hourly limit in Redis, then one append per rule of
// the rule-fired event and its action-requested events (published by the outbox), and a record
// of every verdict that did not fire (dry run, suppressed, missing field).
import {
  ruleActionsTopic,
  ruleEventsTopic,
  type ActionFailed,
  type ActionRequested,
  type RuleFired,
} from '@cmis/contracts';
import type { CooldownLocks, NewEvent, ServiceRuntime } from '@cmis/platform';
import type { Knex } from 'knex';
import type { EvaluationContext } from '../conditions/conditions';
import { resolveAction, type FiringSubject } from '../actions/actions';
import { boundBudgetChange } from '../actions/budget';
import type { Verdict } from './evaluate';
import { boundedId, stableId } from './stable-id';

export interface Cause {
  id: string;
  correlationId: string;
}

export interface Firing {
  fire(
    trx: Knex.Transaction,
    orgId: string,
    cause: Cause,
    target: FiringSubject,
    ctx: EvaluationContext,
    verdicts: Verdict[],
  ): Promise<void>;
}

const HOUR_MS = 3_600_000;

export function createFiring(deps: { rt: ServiceRuntime; locks: CooldownLocks; now: () => Date }): Firing {
  const { rt, locks, now } = deps;

  async function budgetUsedToday(trx: Knex.Transaction, orgId: string, campaignId: string, day: string) {
    const row = await trx('budget_changes')
      .where({ org_id: orgId, campaign_id: campaignId, day })
      .first('percent_total');
    return row ? Number(row.percent_total) : 0;
  }

  return {
    async fire(trx, orgId, cause, target, ctx, verdicts) {
      if (verdicts.length === 0) return;
      const at = now();
      const rows: Array<Record<string, unknown>> = [];
      const metadata = rt.eventMetadata({ correlationId: cause.correlationId, causationId: cause.id });
      const key = `${orgId}:${target.subject}`;
      let appended = false;
      for (const verdict of verdicts) {
        const { rule } = verdict;
        const def = rule.definition;
        const row = {
          org_id: orgId,
          rule_id: rule.ruleId,
          rule_version: rule.version,
          subject: target.subject,
          event_id: cause.id,
          at,
        };
        if (verdict.outcome === 'missing') {
          const reason = `missing field(s): ${verdict.missing.join(', ')}`;
          rows.push({ ...row, outcome: 'not_matched', reason, detail: { missing: verdict.missing } });
          continue;
        }
        const dryRun = def.status === 'dry_run';
        if (!dryRun) {
          const cooldownKey = `rules:cooldown:${orgId}:${rule.ruleId}:${target.subject}`;
          let cooling = false;
          if (def.cooldownSeconds > 0) {
            if (!(await locks.tryAcquire(cooldownKey, def.cooldownSeconds * 1000))) {
              rows.push({
                ...row,
                outcome: 'suppressed',
                reason: `in cooldown (${def.cooldownSeconds}s)`,
                detail: {},
              });
              continue;
            }
            cooling = true;
          }
          if (def.maxExecutionsPerHour !== undefined) {
            const window = await locks.tryIncrementInWindow(
              `rules:hourly:${orgId}:${rule.ruleId}`,
              HOUR_MS,
              def.maxExecutionsPerHour,
            );
            if (!window.allowed) {
              if (cooling) await locks.release(cooldownKey);
              const reason = `max executions per hour (${def.maxExecutionsPerHour}) reached`;
              rows.push({ ...row, outcome: 'suppressed', reason, detail: {} });
              continue;
            }
          }
        }
        const matchedFields = verdict.matchedConditions;
        const actions = def.actions.map((template) =>
          resolveAction(
            template,
            def,
            ctx,
            target,
            matchedFieldsOf(rule.definition.conditions, matchedFields),
          ),
        );
        const fired: RuleFired = {
          ruleId: rule.ruleId,
          ruleVersion: rule.version,
          subject: target.subject,
          dryRun,
          matchedConditions: matchedFields,
        };
        const events: NewEvent[] = [
          {
            id: stableId(cause.id, rule.ruleId, rule.version, target.subject, 'fired'),
            type: 'cmis.rules.rule-fired',
            data: fired,
            metadata,
            topic: ruleEventsTopic.name,
            key,
            occurredAt: at,
          },
        ];
        rows.push({
          ...row,
          outcome: dryRun ? 'dry_run' : 'fired',
          reason: null,
          detail: { matchedConditions: matchedFields, actions },
        });
        if (!dryRun) {
          for (const [index, resolved] of actions.entries()) {
            const actionId = stableId(cause.id, rule.ruleId, rule.version, target.subject, index);
            let action = resolved;
            if (action.kind === 'adjust_budget') {
              const template = def.actions[index] as { maxDailyChangePercent?: number };
              const day = at.toISOString().slice(0, 10);
              const decision = boundBudgetChange(action, {
                maxDailyChangePercent: template.maxDailyChangePercent,
                usedPercentToday: await budgetUsedToday(trx, orgId, action.campaignId, day),
                currentBudget: ctx.metrics?.budget,
              });
              if (!decision.allowed) {
                const failed: ActionFailed = {
                  ruleId: rule.ruleId,
                  ruleVersion: rule.version,
                  actionId,
                  kind: 'adjust_budget',
                  attempts: 1,
                  reason: decision.reason,
                  retryable: false,
                };
                events.push({
                  id: stableId(actionId, 'failed'),
                  type: 'cmis.rules.action-failed',
                  data: failed,
                  metadata,
                  topic: ruleEventsTopic.name,
                  key,
                  occurredAt: at,
                });
                continue;
              }
              action = decision.action;
              await trx('budget_changes')
                .insert({
                  org_id: orgId,
                  campaign_id: action.campaignId,
                  day,
                  percent_total: decision.percent,
                })
                .onConflict(['org_id', 'campaign_id', 'day'])
                .merge({ percent_total: trx.raw('budget_changes.percent_total + excluded.percent_total') });
            }
            const requested: ActionRequested = {
              ruleId: rule.ruleId,
              ruleVersion: rule.version,
              actionId,
              action,
            };
            events.push({
              id: actionId,
              type: 'cmis.rules.action-requested',
              data: requested,
              metadata,
              topic: ruleActionsTopic.name,
              key,
              occurredAt: at,
            });
          }
        }
        await rt.eventStore.append(trx, {
          orgId,
          streamType: 'rule-firings',
          streamId: `${rule.ruleId}:${boundedId(target.subject)}`,
          expectedVersion: 'any',
          events,
        });
        appended = true;
      }
      if (rows.length > 0)
        await trx('rule_evaluations').insert(rows.map((r) => ({ ...r, detail: JSON.stringify(r.detail) })));
      // Publish as soon as the inbox transaction commits rather than at the relay's next poll.
      if (appended)
        void trx.executionPromise.then(
          () => rt.relay.wake(),
          () => undefined,
        );
    },
  };
}

/** The fields of the comparisons that passed (by id or path), for notification messages. */
function matchedFieldsOf(conditions: unknown, matched: string[]): string[] {
  const fields: string[] = [];
  const walk = (c: unknown, path: string) => {
    if (!c || typeof c !== 'object') return;
    const node = c as Record<string, unknown>;
    if (Array.isArray(node.all)) node.all.forEach((x, i) => walk(x, `${path}.all.${i}`));
    else if (Array.isArray(node.any)) node.any.forEach((x, i) => walk(x, `${path}.any.${i}`));
    else if (node.not) walk(node.not, `${path}.not`);
    else if (typeof node.field === 'string' && matched.includes((node.id as string | undefined) ?? path)) {
      if (!fields.includes(node.field)) fields.push(node.field);
    }
  };
  walk(conditions, 'conditions');
  return fields;
}
