// From a rule's action templates to the actions it requests when it fires. Pure.
import type { RuleAction } from '@cmis/contracts';
import { compileGetter, type EvaluationContext } from '@cmis/conditions';
import type { ActionTemplate, RuleDefinition } from '../definitions/rule';

/** Who or what a firing is about: the entity of metrics and schedule rules, the contact of event rules. */
export interface FiringSubject {
  subject: string;
  entity?: { type: string; id: string };
  contactId?: string;
}

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_.$-]+)\s*\}\}/g;

/** Fills `{{metrics.cpa}}`-style placeholders from the context; unknown ones become empty. */
export function fillPlaceholders(text: string, ctx: EvaluationContext): string {
  return text.replace(PLACEHOLDER, (_, field: string) => {
    const value = compileGetter(field)(ctx);
    return value === undefined || value === null
      ? ''
      : typeof value === 'object'
        ? JSON.stringify(value)
        : String(value);
  });
}

function fillDeep(value: unknown, ctx: EvaluationContext): unknown {
  if (typeof value === 'string') return fillPlaceholders(value, ctx);
  if (Array.isArray(value)) return value.map((v) => fillDeep(v, ctx));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fillDeep(v, ctx)]));
  }
  return value;
}

/** The action a template asks for in this firing (budget bounds are applied later, see budget.ts). */
export function resolveAction(
  template: ActionTemplate,
  rule: Pick<RuleDefinition, 'name'>,
  ctx: EvaluationContext,
  target: FiringSubject,
  matchedFields: string[],
): RuleAction {
  const campaignId = () => ('campaignId' in template && template.campaignId) || target.entity!.id;
  const contactId = () => ('contactId' in template && template.contactId) || target.contactId!;
  switch (template.kind) {
    case 'pause_campaign':
    case 'resume_campaign':
      return { kind: template.kind, campaignId: campaignId() };
    case 'adjust_budget': {
      const action: RuleAction = {
        kind: 'adjust_budget',
        campaignId: campaignId(),
        mode: template.mode,
        amount: template.amount,
      };
      if (template.minBudget !== undefined) action.minBudget = template.minBudget;
      if (template.maxBudget !== undefined) action.maxBudget = template.maxBudget;
      return action;
    }
    case 'send_notification': {
      const about = target.entity ? `${target.entity.type} ${target.entity.id}` : `contact ${target.subject}`;
      const facts = matchedFields.map((f) => `${f} = ${JSON.stringify(compileGetter(f)(ctx))}`).join(', ');
      return {
        kind: 'send_notification',
        channel: template.channel,
        recipients: template.recipients,
        title: template.title
          ? fillPlaceholders(template.title, ctx) || rule.name
          : `Rule "${rule.name}" fired`,
        message: template.message
          ? fillPlaceholders(template.message, ctx) || rule.name
          : `Rule "${rule.name}" fired for ${about}${facts ? ` (${facts})` : ''}`,
      };
    }
    case 'tag_contact':
      return { kind: 'tag_contact', contactId: contactId(), tags: template.tags };
    case 'enroll_workflow':
      return { kind: 'enroll_workflow', contactId: contactId(), workflowId: template.workflowId };
    case 'enroll_drip':
      return { kind: 'enroll_drip', contactId: contactId(), dripId: template.dripId };
    case 'webhook':
      return {
        kind: 'webhook',
        url: template.url,
        method: template.method,
        headers: template.headers,
        body: fillDeep(template.body, ctx) as Record<string, unknown>,
      };
    default:
      return unreachable(template);
  }
}

function unreachable(value: never): never {
  throw new Error(`unhandled action ${JSON.stringify(value)}`);
}
