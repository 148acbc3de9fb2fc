// Which fields a rule may read, and their types, by the kind of trigger that starts it.
import { lookupField, type FieldShape, type FieldTable, type FieldTyping } from '@cmis/conditions';

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

// The payload's named strings, and its objects whose contents are untyped.
const eventFields = (type: EventTriggerType): FieldShape => ({
  fields: Object.fromEntries([
    ...EVENT_STRINGS[type].map((name) => [name, 'string'] as const),
    ...EVENT_OBJECTS[type].map((name) => [name, 'any'] as const),
  ]),
});
const EVENT_TABLES = Object.fromEntries(
  EVENT_TRIGGER_TYPES.map((type) => [type, { event: eventFields(type), contact: 'any' }]),
) as Record<EventTriggerType, FieldTable>;
const ENTITY_TABLE: FieldTable = {
  metrics: { each: 'number' },
  entity: { fields: { type: 'string', id: 'string' } },
};

/**
 * The type of `field` for a rule with this trigger, or why it cannot be read.
 * - event rules: `event.<payload field>` (`event.properties.*`, `event.traits.*` are untyped) and
 *   `contact.*` (the contact's traits as rules last saw them);
 * - metrics and schedule rules: `metrics.<name>` (numbers) and `entity.type` / `entity.id`.
 */
export function fieldType(
  field: string,
  trigger: { kind: TriggerKind; eventType?: EventTriggerType },
): FieldTyping {
  const table = trigger.kind === 'event' ? EVENT_TABLES[trigger.eventType!] : ENTITY_TABLE;
  const typed = lookupField(field, table);
  if (typed !== undefined) return typed;
  const [root, first] = field.split('.');
  if (trigger.kind === 'event' && root === 'event' && first !== undefined)
    return { error: `unknown field ${field}: ${trigger.eventType!} has no ${first}` };
  const scope = trigger.kind === 'event' ? 'event rules' : `${trigger.kind} rules`;
  const allowed = trigger.kind === 'event' ? 'event.*, contact.*' : 'metrics.<name>, entity.type, entity.id';
  return { error: `unknown field ${field}: ${scope} read ${allowed}` };
}
