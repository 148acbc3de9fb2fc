// Pure: a result event -> the row its projection table keeps (or none). Every switch is
// exhaustive over its topic's event types, so a new event type fails to compile here.
import type {
  emailMessagesTopic,
  dripSubscriptionsTopic,
  entityMetricsTopic,
  ruleActionsTopic,
  ruleEventsTopic,
  TopicEnvelope,
  userActionsTopic,
  workflowInstancesTopic,
  EventEnvelope,
} from '@cmis/contracts';

type Row = Record<string, string | number | boolean | null | Record<string, number>>;

const unreachable = (x: never): never => {
  throw new Error(`unhandled event type ${String((x as { type?: unknown }).type)}`);
};

/**
 * Revenue of a conversion: the first of `revenue`, `total`, `value` in the track call's
 * properties that is a finite number (or a numeric string) — Segment's e-commerce spec puts an
 * order's value in `revenue` (Order Completed) or `total`, many upstreams in `value`. A track
 * call without one is a user action, not a conversion.
 */
export function conversionRevenue(properties: Record<string, unknown>): number | null {
  for (const key of ['revenue', 'total', 'value']) {
    const v = properties[key];
    const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
    if (Number.isFinite(n)) return n;
  }
  return null;
}

/** The ad campaign an action came from: properties.campaignId, else Segment's context.campaign. */
function campaignOf(properties: Record<string, unknown>, context: Record<string, unknown>): string | null {
  const direct = properties.campaignId ?? properties.campaign_id;
  if (typeof direct === 'string' && direct !== '') return direct;
  const c = context.campaign as Record<string, unknown> | undefined;
  const named = c && (c.id ?? c.name);
  return typeof named === 'string' && named !== '' ? named : null;
}

export function actionRow(e: EventEnvelope): Row | null {
  const env = e as TopicEnvelope<typeof userActionsTopic.name>;
  switch (env.type) {
    case 'cmis.triggers.action-tracked': {
      const d = env.data;
      const revenue = conversionRevenue(d.properties);
      const currency = d.properties.currency;
      return {
        event_id: env.id,
        contact_id: (d.userId ?? d.anonymousId)!,
        event: d.event,
        revenue,
        currency: typeof currency === 'string' ? currency : null,
        campaign: campaignOf(d.properties, d.context),
        at: d.timestamp,
      };
    }
    case 'cmis.triggers.page-viewed':
    case 'cmis.triggers.screen-viewed':
      return null; // views are neither conversions nor touches
    default:
      return unreachable(env);
  }
}

/**
 * The platform of a metrics snapshot. EntityMetricsObserved has no platform field; upstream
 * connectors name it in the entity type, `<platform>.<type>` (e.g. `google_ads.campaign`,
 * allowed by ingest's entity-type rule). A bare type (`campaign`) is on platform `unknown`.
 */
export function platformOf(entityType: string): { platform: string; type: string } {
  const dot = entityType.indexOf('.');
  if (dot <= 0 || dot === entityType.length - 1) return { platform: 'unknown', type: entityType };
  return { platform: entityType.slice(0, dot), type: entityType.slice(dot + 1) };
}

export function metricsRow(e: EventEnvelope): Row | null {
  const env = e as TopicEnvelope<typeof entityMetricsTopic.name>;
  // The topic's one event type: a second one fails to compile here.
  const only: 'cmis.triggers.entity-metrics-observed' = env.type;
  if (only !== 'cmis.triggers.entity-metrics-observed') return unreachable(only);
  const d = env.data;
  const { platform, type } = platformOf(d.entityType);
  return {
    event_id: env.id,
    platform,
    entity_type: type,
    entity_id: d.entityId,
    metrics: d.metrics,
    observed_at: d.observedAt,
  };
}

const CAMPAIGN_KINDS = new Set(['pause_campaign', 'resume_campaign', 'adjust_budget']);

export function ruleRow(e: EventEnvelope): Row | null {
  const base = { event_id: e.id, at: e.time, subject: e.subject ?? null };
  if (e.type === 'cmis.rules.action-requested') {
    const env = e as TopicEnvelope<typeof ruleActionsTopic.name>;
    const { action } = env.data;
    return {
      ...base,
      type: 'requested',
      rule_id: env.data.ruleId,
      rule_version: env.data.ruleVersion,
      action_id: env.data.actionId,
      action_kind: action.kind,
      campaign_id: CAMPAIGN_KINDS.has(action.kind) ? (action as { campaignId: string }).campaignId : null,
    };
  }
  const env = e as TopicEnvelope<typeof ruleEventsTopic.name>;
  switch (env.type) {
    case 'cmis.rules.rule-fired':
      return {
        ...base,
        type: 'fired',
        rule_id: env.data.ruleId,
        rule_version: env.data.ruleVersion,
        dry_run: env.data.dryRun,
        subject: env.data.subject,
      };
    case 'cmis.rules.action-succeeded':
    case 'cmis.rules.action-failed':
      return {
        ...base,
        type: env.type === 'cmis.rules.action-succeeded' ? 'succeeded' : 'failed',
        rule_id: env.data.ruleId,
        rule_version: env.data.ruleVersion,
        action_id: env.data.actionId,
        action_kind: env.data.kind,
        retryable: env.type === 'cmis.rules.action-failed' ? env.data.retryable : null,
      };
    default:
      return unreachable(env);
  }
}

export function emailRow(e: EventEnvelope): Row | null {
  const env = e as TopicEnvelope<typeof emailMessagesTopic.name>;
  const d = env.data;
  const row = (type: string, extra: Row = {}): Row => ({
    event_id: env.id,
    type,
    message_id: d.messageId,
    contact_id: d.contactId ?? null,
    origin_kind: d.origin.kind,
    origin_id: d.origin.id,
    step_id: d.origin.stepId ?? null,
    instance_id: d.origin.instanceId ?? null,
    machine: false,
    detail: null,
    at: env.time,
    ...extra,
  });
  switch (env.type) {
    case 'cmis.email.message-requested':
      return row('requested');
    case 'cmis.email.message-rendered':
      return row('rendered', { detail: env.data.variantId ?? null });
    case 'cmis.email.message-suppressed':
      return row('suppressed', { detail: env.data.reason });
    case 'cmis.email.message-deferred':
      return row('deferred');
    case 'cmis.email.message-sent':
      return row('sent');
    case 'cmis.email.message-delivered':
      return row('delivered');
    case 'cmis.email.message-bounced':
      return row('bounced', { detail: env.data.bounceType });
    case 'cmis.email.message-complained':
      return row('complained');
    case 'cmis.email.message-opened':
      return row('opened', { machine: env.data.machine });
    case 'cmis.email.message-clicked':
      return row('clicked', { machine: env.data.machine, detail: env.data.url });
    case 'cmis.email.message-unsubscribed':
      return row('unsubscribed', { detail: env.data.scope });
    case 'cmis.email.message-failed':
      return row('failed');
    default:
      return unreachable(env);
  }
}

export function workflowRow(e: EventEnvelope): Row | null {
  const env = e as TopicEnvelope<typeof workflowInstancesTopic.name>;
  const d = env.data;
  const row = (type: string, extra: Row = {}): Row => ({
    event_id: env.id,
    type,
    workflow_id: d.workflowId,
    instance_id: d.instanceId,
    contact_id: d.contactId,
    step_id: null,
    status: null,
    at: env.time,
    ...extra,
  });
  switch (env.type) {
    case 'cmis.workflows.instance-started':
      return row('started');
    case 'cmis.workflows.step-completed':
      return row('step', { step_id: env.data.stepId, status: env.data.outcome });
    case 'cmis.workflows.instance-waiting':
      return row('waiting', { step_id: env.data.stepId });
    case 'cmis.workflows.step-failed':
      return row('step_failed', { step_id: env.data.stepId });
    case 'cmis.workflows.instance-ended':
      return row('ended', { step_id: env.data.stepId ?? null, status: env.data.status });
    case 'cmis.workflows.instance-migrated':
      return row('migrated', { step_id: env.data.toStepId });
    default:
      return unreachable(env);
  }
}

export function dripRow(e: EventEnvelope): Row | null {
  const env = e as TopicEnvelope<typeof dripSubscriptionsTopic.name>;
  const d = env.data;
  const row = (type: string, stepId: string | null = null): Row => ({
    event_id: env.id,
    type,
    drip_id: d.dripId,
    subscription_id: d.subscriptionId,
    contact_id: d.contactId,
    step_id: stepId,
    at: env.time,
  });
  switch (env.type) {
    case 'cmis.drip.subscriber-enrolled':
      return row('enrolled');
    case 'cmis.drip.step-due':
      return row('due', env.data.stepId);
    case 'cmis.drip.step-requested':
      return row('requested', env.data.stepId);
    case 'cmis.drip.step-skipped':
      return row('skipped', env.data.stepId);
    case 'cmis.drip.subscriber-exited':
      return row('exited');
    case 'cmis.drip.subscriber-completed':
      return row('completed');
    case 'cmis.drip.subscriber-converted':
      return row('converted');
    default:
      return unreachable(env);
  }
}
