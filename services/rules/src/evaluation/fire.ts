// What happens when rules matched: cooldown and hourly limit in Redis, then the rule-fired events
// and their action-requested events (published by the outbox), and a record of every verdict
// (fired, dry run, suppressed, missing field). Works on a batch of firings at once: the Redis
// claims of the whole batch go out together (auto-pipelined), the events of the batch are one
// append, the records one insert. A webhook action is also queued for the webhook worker, which
// delivers it after the commit (webhook/worker.ts).
import type { EvaluationContext } from '@cmis/conditions';
import {
  emailRequestsTopic,
  ruleActionsTopic,
  ruleEventsTopic,
  type ActionFailed,
  type ActionRequested,
  type RuleFired,
} from '@cmis/contracts';
import { stableId, type CooldownLocks, type NewEvent, type ServiceRuntime } from '@cmis/platform';
import type { Knex } from 'knex';
import { resolveAction, type FiringSubject } from '../actions/actions';
import { notificationEmails } from '../actions/notification';
import { boundBudgetChange } from '../actions/budget';
import type { Verdict } from './evaluate';
import { isHeldOut } from './holdout';
import { queueDeliveries, type QueuedDelivery } from '../webhook/worker';

export interface Cause {
  id: string;
  correlationId: string;
}

/** The verdicts of one evaluation: one triggering event (or schedule tick) and one subject. */
export interface FiringItem {
  cause: Cause;
  target: FiringSubject;
  ctx: EvaluationContext;
  verdicts: Verdict[];
}

export interface Firing {
  /**
   * Records and carries out the verdicts of the items, in their order. `lane` names where the
   * items came from (`<topic>#<partition>` of the triggering events; for a Kafka fetch's group of
   * partitions, its first): the firings of one lane are appended to one `rule-firings` stream, so
   * a batch is one append, and lanes do not contend (a replica's partitions are its own).
   */
  fire(trx: Knex.Transaction, orgId: string, lane: string, items: FiringItem[]): Promise<void>;
}

const HOUR_MS = 3_600_000;
// Bounds of one statement: Postgres takes at most 65,535 parameters (events: 11 a row); the
// evaluations go as one JSON parameter, chunked only to keep statements moderate.
const APPEND_CHUNK = 2_000;
const INSERT_CHUNK = 5_000;

type Decision =
  { kind: 'fire' } | { kind: 'suppressed'; reason: string } | { kind: 'missing'; missing: string[] };

/** One matched verdict of an active rule that needs Redis before it may fire. */
interface Claim {
  orgId: string;
  ruleId: string;
  cooldownSeconds: number;
  maxExecutionsPerHour?: number;
  cooldownKey?: string;
  /**
   * The firing's stable id (rule, version, triggering event, subject): the same on a redelivery,
   * so a retry after a rolled-back transaction finds its own claims and is not suppressed by them.
   */
  firingId: string;
  decision?: Decision;
  /** It took the cooldown lock and gave it back (hourly limit reached). */
  released?: boolean;
}

type Pending = Decision | { kind: 'claim'; claim: Claim };

// Shared by every verdict that fires without Redis (decisions are never changed).
const FIRE: Decision = { kind: 'fire' };

/** A rule_evaluations row as sent to the insert (one JSON array; `ord` keeps their order). */
interface EvaluationRow {
  ord: number;
  rule_id: string;
  rule_version: number;
  subject: string;
  event_id: string;
  outcome: 'fired' | 'dry_run' | 'suppressed' | 'not_matched';
  reason: string | null;
  detail: unknown;
  at: string;
}

/** The lane of an inbox event: its topic and partition. */
export const laneOf = (message: { topic: string; partition: number }) =>
  `${message.topic}#${message.partition}`;

export function createFiring(deps: {
  rt: ServiceRuntime;
  locks: CooldownLocks;
  now: () => Date;
  /** Called when a batch that queued webhook deliveries committed (the webhook worker's wake). */
  onWebhooksQueued?: () => void;
}): Firing {
  const { rt, locks, now } = deps;

  async function budgetUsedToday(trx: Knex.Transaction, orgId: string, campaignId: string, day: string) {
    const row = await trx('budget_changes')
      .where({ org_id: orgId, campaign_id: campaignId, day })
      .first('percent_total');
    return row ? Number(row.percent_total) : 0;
  }

  /**
   * Cooldown, then the hourly limit, for every claim, as if one after the other in order: the
   * commands of one round are issued together (one pipelined write), and a claim whose cooldown
   * key an earlier claim of the batch is deciding waits for a later round.
   */
  async function settleClaims(claims: Claim[]): Promise<void> {
    let queue = claims;
    while (queue.length > 0) {
      const round: Claim[] = [];
      const deferred: Claim[] = [];
      const deciding = new Map<string, Claim>();
      for (const claim of queue) {
        if (claim.cooldownKey !== undefined && deciding.has(claim.cooldownKey)) deferred.push(claim);
        else {
          if (claim.cooldownKey !== undefined) deciding.set(claim.cooldownKey, claim);
          round.push(claim);
        }
      }
      const cooling = await Promise.all(
        round.map((c) =>
          c.cooldownKey === undefined
            ? Promise.resolve(false)
            : locks.tryAcquire(c.cooldownKey, c.cooldownSeconds * 1000, c.firingId),
        ),
      );
      const windowed: Claim[] = [];
      round.forEach((c, i) => {
        if (c.cooldownKey !== undefined && !cooling[i]) {
          c.decision = { kind: 'suppressed', reason: `in cooldown (${c.cooldownSeconds}s)` };
        } else if (c.maxExecutionsPerHour !== undefined) windowed.push(c);
        else c.decision = FIRE;
      });
      const windows = await Promise.all(
        windowed.map((c) =>
          locks.tryIncrementInWindow(
            `rules:hourly:${c.orgId}:${c.ruleId}`,
            HOUR_MS,
            c.maxExecutionsPerHour!,
            c.firingId,
          ),
        ),
      );
      const releases: Array<Promise<unknown>> = [];
      windowed.forEach((c, i) => {
        if (windows[i]!.allowed) {
          c.decision = FIRE;
          return;
        }
        if (c.cooldownKey !== undefined) {
          releases.push(locks.release(c.cooldownKey, c.firingId));
          c.released = true;
        }
        c.decision = {
          kind: 'suppressed',
          reason: `max executions per hour (${c.maxExecutionsPerHour}) reached`,
        };
      });
      await Promise.all(releases);
      // A later claim on a key: in cooldown, unless the earlier one gave the lock back.
      queue = [];
      for (const claim of deferred) {
        const earlier = deciding.get(claim.cooldownKey!)!;
        if (earlier.released) queue.push(claim);
        else {
          claim.decision = { kind: 'suppressed', reason: `in cooldown (${claim.cooldownSeconds}s)` };
        }
      }
    }
  }

  return {
    async fire(trx, orgId, lane, items) {
      const work = items.filter((item) => item.verdicts.length > 0);
      if (work.length === 0) return;

      // Decide every verdict: missing fields and dry runs at once, the rest through Redis.
      const pending: Pending[][] = [];
      const claims: Claim[] = [];
      for (const { cause, target, verdicts } of work) {
        pending.push(
          verdicts.map((verdict): Pending => {
            if (verdict.outcome === 'missing') return { kind: 'missing', missing: verdict.missing };
            const def = verdict.rule.definition;
            if (def.status === 'dry_run') return FIRE;
            if (def.cooldownSeconds <= 0 && def.maxExecutionsPerHour === undefined) return FIRE;
            const claim: Claim = {
              orgId,
              ruleId: verdict.rule.ruleId,
              cooldownSeconds: def.cooldownSeconds,
              maxExecutionsPerHour: def.maxExecutionsPerHour,
              firingId: `${verdict.rule.ruleId}:${verdict.rule.version}:${cause.id}:${target.subject}`,
              cooldownKey:
                def.cooldownSeconds > 0
                  ? `rules:cooldown:${orgId}:${verdict.rule.ruleId}:${target.subject}`
                  : undefined,
            };
            claims.push(claim);
            return { kind: 'claim', claim };
          }),
        );
      }
      if (claims.length > 0) await settleClaims(claims);
      const decisionOf = (p: Pending): Decision => (p.kind === 'claim' ? p.claim.decision! : p);

      const rows: EvaluationRow[] = [];
      const record = (
        rule: Verdict['rule'],
        target: FiringSubject,
        cause: Cause,
        at: string,
        outcome: EvaluationRow['outcome'],
        reason: string | null,
        detail: unknown,
      ) =>
        rows.push({
          ord: rows.length,
          rule_id: rule.ruleId,
          rule_version: rule.version,
          subject: target.subject,
          event_id: cause.id,
          outcome,
          reason,
          detail,
          at,
        });
      // The whole batch is applied in one context (the inbox's span): its trace headers once.
      const traceHeaders = rt.eventMetadata();
      const fieldsOf = matchedFieldsMemo();
      const events: NewEvent[] = [];
      const deliveries: QueuedDelivery[] = [];
      for (let w = 0; w < work.length; w++) {
        const { cause, target, ctx, verdicts } = work[w]!;
        const at = now();
        const atText = at.toISOString();
        const metadata = { ...traceHeaders, correlationId: cause.correlationId, causationId: cause.id };
        const key = `${orgId}:${target.subject}`;
        for (let v = 0; v < verdicts.length; v++) {
          const verdict = verdicts[v]!;
          const decision = decisionOf(pending[w]![v]!);
          const { rule } = verdict;
          const def = rule.definition;
          if (decision.kind === 'missing') {
            const reason = `missing field(s): ${decision.missing.join(', ')}`;
            record(rule, target, cause, atText, 'not_matched', reason, { missing: decision.missing });
            continue;
          }
          if (decision.kind === 'suppressed') {
            record(rule, target, cause, atText, 'suppressed', decision.reason, {});
            continue;
          }
          if (verdict.outcome !== 'matched') continue; // not reached: missing verdicts are decided above
          const dryRun = def.status === 'dry_run';
          const heldOut = !dryRun && isHeldOut(def.holdoutPercent, rule.ruleId, target.subject);
          const matchedFields = verdict.matchedConditions;
          const fields = fieldsOf(rule, matchedFields);
          const actions = def.actions.map((template) => resolveAction(template, def, ctx, target, fields));
          const fired: RuleFired = {
            ruleId: rule.ruleId,
            ruleVersion: rule.version,
            subject: target.subject,
            dryRun,
            matchedConditions: matchedFields,
            ...(heldOut ? { heldOut } : {}),
          };
          events.push({
            id: stableId(cause.id, rule.ruleId, rule.version, target.subject, 'fired'),
            type: 'cmis.rules.rule-fired',
            data: fired,
            metadata,
            topic: ruleEventsTopic.name,
            key,
            occurredAt: at,
          });
          record(rule, target, cause, atText, dryRun ? 'dry_run' : 'fired', heldOut ? 'held out' : null, {
            matchedConditions: matchedFields,
            actions,
            ...(heldOut ? { heldOut } : {}),
          });
          if (dryRun || heldOut) continue;
          for (const [index, resolved] of actions.entries()) {
            const actionId = stableId(cause.id, rule.ruleId, rule.version, target.subject, index);
            let action = resolved;
            if (action.kind === 'adjust_budget') {
              const template = def.actions[index] as { maxDailyChangePercent?: number };
              const day = at.toISOString().slice(0, 10);
              const bounded = boundBudgetChange(action, {
                maxDailyChangePercent: template.maxDailyChangePercent,
                usedPercentToday: await budgetUsedToday(trx, orgId, action.campaignId, day),
                currentBudget: ctx.metrics?.budget,
              });
              if (!bounded.allowed) {
                const failed: ActionFailed = {
                  ruleId: rule.ruleId,
                  ruleVersion: rule.version,
                  actionId,
                  kind: 'adjust_budget',
                  attempts: 1,
                  reason: bounded.reason,
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
              action = bounded.action;
              await trx('budget_changes')
                .insert({
                  org_id: orgId,
                  campaign_id: action.campaignId,
                  day,
                  percent_total: bounded.percent,
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
            if (action.kind === 'send_notification' && action.channel === 'email') {
              events.push(
                ...notificationEmails(action, { ruleId: rule.ruleId, version: rule.version, actionId }).map(
                  (request, r) => ({
                    id: stableId(actionId, 'email', r),
                    type: 'cmis.email.send-requested',
                    data: request,
                    metadata,
                    topic: emailRequestsTopic.name,
                    key: `${orgId}:${(request.to as { address: string }).address}`,
                    occurredAt: at,
                  }),
                ),
              );
            }
            if (action.kind === 'webhook') {
              deliveries.push({
                action_id: actionId,
                rule_id: rule.ruleId,
                rule_version: rule.version,
                subject: target.subject,
                action,
                metadata,
              });
            }
          }
        }
      }

      // One append for the batch (in chunks): the events keep their order, so each subject's
      // events reach Kafka (keyed by subject) in the order the verdicts were made.
      for (let i = 0; i < events.length; i += APPEND_CHUNK) {
        await rt.eventStore.append(trx, {
          orgId,
          streamType: 'rule-firings',
          streamId: lane,
          expectedVersion: 'any',
          events: events.slice(i, i + APPEND_CHUNK),
        });
      }
      // One statement with one parameter (a JSON array of the rows): no per-row query building.
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
        await trx.raw(
          `insert into rule_evaluations (org_id, rule_id, rule_version, subject, event_id, outcome, reason, detail, at)
           select ?::uuid, x.rule_id, x.rule_version, x.subject, x.event_id, x.outcome, x.reason, x.detail, x.at
             from jsonb_to_recordset(?::jsonb) as x(ord integer, rule_id text, rule_version integer, subject text,
               event_id text, outcome text, reason text, detail jsonb, at timestamptz)
            order by x.ord`,
          [orgId, JSON.stringify(rows.length <= INSERT_CHUNK ? rows : rows.slice(i, i + INSERT_CHUNK))],
        );
      }
      await queueDeliveries(trx, orgId, deliveries);
      // Publish (and deliver) as soon as the inbox transaction commits, not at the next poll.
      if (events.length > 0)
        void trx.executionPromise.then(
          () => {
            rt.relay.wake();
            if (deliveries.length > 0) deps.onWebhooksQueued?.();
          },
          () => undefined,
        );
    },
  };
}

/**
 * matchedFieldsOf per rule version and set of passed comparisons, for one batch: the firings of a
 * batch mostly repeat a few combinations, and the walk over the conditions need not.
 */
function matchedFieldsMemo() {
  const memo = new Map<string, string[]>();
  return (rule: Verdict['rule'], matched: string[]): string[] => {
    const key = `${rule.ruleId}\u0000${rule.version}\u0000${matched.join('\u0000')}`;
    let fields = memo.get(key);
    if (!fields) {
      fields = matchedFieldsOf(rule.definition.conditions, matched);
      memo.set(key, fields);
    }
    return fields;
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
