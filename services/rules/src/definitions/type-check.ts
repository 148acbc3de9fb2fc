// The type checker of rule definitions: every fault is reported with the path of the field at
// fault (`body.conditions.all.0.operator`), so a 400 says exactly what to fix. Pure. Condition
// trees are checked by @cmis/conditions against the fields the rule's trigger provides.
import { checkCondition, type Condition, type ConditionBudget } from '@cmis/conditions';
import { checkWebhookUrl, type Allowlist, type FieldError } from '@cmis/platform';
import { z, type ZodIssue } from 'zod';
import { fieldType, type EventTriggerType } from './fields';
import { RuleInput, type RuleDefinition } from './rule';

export { MAX_CONDITIONS } from '@cmis/conditions';
export const MAX_RULE_BYTES = 64 * 1024;

export type CheckResult = { ok: true; definition: RuleDefinition } | { ok: false; errors: FieldError[] };

type Scope = { kind: 'event'; eventType: EventTriggerType } | { kind: 'metrics' | 'schedule' };

/** Checks an untrusted rule definition; `base` prefixes every error path (e.g. `body`). */
export function checkRule(input: unknown, base = 'body', allowlist: Allowlist = []): CheckResult {
  const at = (...parts: Array<string | number>) => [base, ...parts].filter((p) => p !== '').join('.');
  const size = Buffer.byteLength(JSON.stringify(input) ?? '');
  if (size > MAX_RULE_BYTES) {
    return {
      ok: false,
      errors: [{ path: base, message: `rule is ${size} bytes; at most ${MAX_RULE_BYTES}` }],
    };
  }
  const parsed = RuleInput.safeParse(input);
  if (!parsed.success) return { ok: false, errors: parsed.error.issues.map((i) => issueError(i, at)) };
  const rule = parsed.data;
  const errors: FieldError[] = [];
  const scope: Scope =
    rule.trigger.kind === 'event' ? { kind: 'event', eventType: rule.trigger.eventType } : rule.trigger;
  // The filter and the conditions count against one limit.
  const budget: ConditionBudget = { nodes: 0, owner: 'a rule' };
  const condition = (raw: unknown, ...path: string[]): Condition | undefined => {
    const checked = checkCondition(raw, {
      fieldType: (field) => fieldType(field, scope),
      path: at(...path),
      budget,
    });
    if (checked.ok) return checked.condition;
    errors.push(...checked.errors);
    return undefined;
  };

  const conditions = condition(rule.conditions, 'conditions');
  let trigger: RuleDefinition['trigger'] = rule.trigger as RuleDefinition['trigger'];
  if (rule.trigger.kind === 'event' && rule.trigger.filter !== undefined) {
    const filter = condition(rule.trigger.filter, 'trigger', 'filter');
    trigger = { kind: 'event', eventType: rule.trigger.eventType, ...(filter ? { filter } : {}) };
  }

  rule.actions.forEach((action, i) => {
    const campaignScoped = rule.trigger.kind !== 'event' && rule.entityType === 'campaign';
    switch (action.kind) {
      case 'pause_campaign':
      case 'resume_campaign':
      case 'adjust_budget':
        if (action.campaignId === undefined && !campaignScoped) {
          errors.push({
            path: at('actions', i, 'campaignId'),
            message: `${action.kind} needs a campaignId: the rule does not watch campaign metrics`,
          });
        }
        if (
          action.kind === 'adjust_budget' &&
          action.minBudget !== undefined &&
          action.maxBudget !== undefined &&
          action.minBudget > action.maxBudget
        ) {
          errors.push({ path: at('actions', i, 'minBudget'), message: 'minBudget is above maxBudget' });
        }
        break;
      case 'tag_contact':
      case 'enroll_workflow':
      case 'enroll_drip':
        if (action.contactId === undefined && rule.trigger.kind !== 'event') {
          errors.push({
            path: at('actions', i, 'contactId'),
            message: `${action.kind} needs a contactId: only event rules fire for a contact`,
          });
        }
        break;
      case 'webhook': {
        const checked = checkWebhookUrl(action.url, allowlist);
        if (!checked.ok) errors.push({ path: at('actions', i, 'url'), message: `url ${checked.reason}` });
        break;
      }
      case 'send_notification':
        // Email notifications go to the email service as requests to these addresses.
        if (action.channel === 'email')
          action.recipients.forEach((recipient, r) => {
            if (!isEmailAddress(recipient))
              errors.push({ path: at('actions', i, 'recipients', r), message: 'must be an email address' });
          });
        break;
      default:
        unreachable(action);
    }
  });

  if (errors.length > 0 || conditions === undefined) return { ok: false, errors };
  return { ok: true, definition: { ...rule, trigger, conditions } };
}

export const isEmailAddress = (text: string) => z.string().email().max(320).safeParse(text).success;

function issueError(issue: ZodIssue, at: (...p: Array<string | number>) => string): FieldError {
  if (issue.code === 'unrecognized_keys') {
    return { path: at(...issue.path), message: `unknown field(s): ${issue.keys.join(', ')}` };
  }
  return { path: at(...issue.path), message: issue.message };
}

function unreachable(value: never): never {
  throw new Error(`unhandled ${JSON.stringify(value)}`);
}
