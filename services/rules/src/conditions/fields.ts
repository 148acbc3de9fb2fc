// Which fields a rule may read, and their types, by the kind of trigger that starts it.

export type FieldType = 'number' | 'string' | 'any';

export const EVENT_TRIGGER_TYPES = [
  'cmis.triggers.action-tracked',
  'cmis.triggers.page-viewed',
  'cmis.triggers.screen-viewed',
  'cmis.triggers.contact-identified',
  'cmis.triggers.contact-grouped',
] as const;
export type EventTriggerType = (typeof EVENT_TRIGGER_TYPES)[number];

export type TriggerKind = 'event' | 'metrics' | 'schedule';

const SEGMENT_STRINGS = ['userId', 'anonymousId', 'messageId', 'timestamp', 'sourceId'];
const EVENT_STRINGS: Record<EventTriggerType, string[]> = {
  'cmis.triggers.action-tracked': [...SEGMENT_STRINGS, 'event'],
  'cmis.triggers.page-viewed': [...SEGMENT_STRINGS, 'name', 'category'],
  'cmis.triggers.screen-viewed': [...SEGMENT_STRINGS, 'name', 'category'],
  'cmis.triggers.contact-identified': SEGMENT_STRINGS,
  'cmis.triggers.contact-grouped': [...SEGMENT_STRINGS, 'groupId'],
};
const EVENT_OBJECTS: Record<EventTriggerType, string[]> = {
  'cmis.triggers.action-tracked': ['properties', 'context'],
  'cmis.triggers.page-viewed': ['properties', 'context'],
  'cmis.triggers.screen-viewed': ['properties', 'context'],
  'cmis.triggers.contact-identified': ['traits', 'context'],
  'cmis.triggers.contact-grouped': ['traits', 'context'],
};

const SEGMENT = /^[A-Za-z0-9_$-]{1,100}$/;
export const MAX_FIELD_DEPTH = 8;

/**
 * The type of `field` for a rule with this trigger, or why it cannot be read.
 * - event rules: `event.<payload field>` (`event.properties.*`, `event.traits.*` are untyped) and
 *   `contact.*` (the contact's traits as rules last saw them);
 * - metrics and schedule rules: `metrics.<name>` (numbers) and `entity.type` / `entity.id`.
 */
export function fieldType(
  field: string,
  trigger: { kind: TriggerKind; eventType?: EventTriggerType },
): { type: FieldType } | { error: string } {
  const segments = field.split('.');
  if (segments.length > MAX_FIELD_DEPTH)
    return { error: `field ${field} is nested deeper than ${MAX_FIELD_DEPTH}` };
  if (segments.some((s) => !SEGMENT.test(s)))
    return { error: `field ${field} is not a dotted path of names` };
  const [root, first, ...rest] = segments;
  const scope = trigger.kind === 'event' ? 'event rules' : `${trigger.kind} rules`;
  if (trigger.kind === 'event') {
    if (root === 'event' && first !== undefined) {
      const type = trigger.eventType!;
      if (EVENT_OBJECTS[type].includes(first)) return { type: 'any' };
      if (EVENT_STRINGS[type].includes(first) && rest.length === 0) return { type: 'string' };
      return { error: `unknown field ${field}: ${type} has no ${first}` };
    }
    if (root === 'contact' && first !== undefined) return { type: 'any' };
  } else {
    if (root === 'metrics' && first !== undefined && rest.length === 0) return { type: 'number' };
    if (root === 'entity' && (first === 'type' || first === 'id') && rest.length === 0)
      return { type: 'string' };
  }
  const allowed = trigger.kind === 'event' ? 'event.*, contact.*' : 'metrics.<name>, entity.type, entity.id';
  return { error: `unknown field ${field}: ${scope} read ${allowed}` };
}
