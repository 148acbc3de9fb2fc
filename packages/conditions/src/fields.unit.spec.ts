import { checkFieldPath, lookupField, MAX_FIELD_DEPTH, type FieldTable } from './fields';

// A workflow step's scope: the enrolling event, the contact and what earlier steps recorded.
const workflowStep: FieldTable = {
  event: { fields: { event: 'string', properties: 'any' } },
  contact: 'any',
  steps: { each: { fields: { opened: 'any', order: { fields: { total: 'number', sku: 'string' } } } } },
};
const metricsRule: FieldTable = {
  metrics: { each: 'number' },
  entity: { fields: { type: 'string', id: 'string' } },
};

describe('field types from a caller-supplied table', () => {
  it.each<[string, FieldTable, string | undefined]>([
    ['event.event', workflowStep, 'string'],
    ['event.properties', workflowStep, 'any'],
    ['event.properties.cart.total', workflowStep, 'any'],
    ['contact.plan', workflowStep, 'any'],
    ['contact.address.city', workflowStep, 'any'],
    ['steps.wait-1.opened', workflowStep, 'any'],
    ['steps.check.order.total', workflowStep, 'number'],
    ['steps.check.order.sku', workflowStep, 'string'],
    ['metrics.cpa', metricsRule, 'number'],
    ['entity.id', metricsRule, 'string'],
  ])('%s is a %s', (field, table, type) => {
    expect(lookupField(field, table)).toEqual({ type });
  });

  it.each<[string, FieldTable]>([
    ['event', workflowStep], // a root alone
    ['contact', workflowStep],
    ['event.userId', workflowStep], // not in the table
    ['event.event.length', workflowStep], // below a string
    ['steps.check', workflowStep], // an object of named fields
    ['steps.check.order', workflowStep],
    ['steps.check.order.total.cents', workflowStep],
    ['steps.check.constructor', workflowStep], // inherited, not a field
    ['metrics.cpa', workflowStep], // a root the table leaves out
    ['metrics.cpa.daily', metricsRule],
    ['entity.name', metricsRule],
    ['entity.hasOwnProperty', metricsRule],
    ['constructor.name', metricsRule],
  ])('%s is not a field there', (field, table) => {
    expect(lookupField(field, table)).toBeUndefined();
  });

  it('refuses malformed paths before looking anything up', () => {
    const deep = ['contact', ...Array.from({ length: MAX_FIELD_DEPTH }, (_, i) => `f${i}`)].join('.');
    expect(lookupField(deep, workflowStep)).toEqual({
      error: `field ${deep} is nested deeper than ${MAX_FIELD_DEPTH}`,
    });
    expect(checkFieldPath(deep)).toBe(`field ${deep} is nested deeper than ${MAX_FIELD_DEPTH}`);
    for (const field of [
      'contact..plan',
      'contact.plan name',
      'contact.',
      '',
      `contact.${'x'.repeat(101)}`,
    ]) {
      expect([field, lookupField(field, workflowStep)]).toEqual([
        field,
        { error: `field ${field} is not a dotted path of names` },
      ]);
    }
    expect(checkFieldPath('steps.wait-1.$value_2')).toBeUndefined();
  });
});
