import { checkRule, MAX_CONDITIONS, MAX_RULE_BYTES } from './type-check';

const cpaRule = {
  name: 'Pause high CPA campaigns',
  entityType: 'campaign',
  trigger: { kind: 'metrics' },
  conditions: { all: [{ field: 'metrics.cpa', operator: '>', value: 50 }] },
  actions: [{ kind: 'pause_campaign' }, { kind: 'send_notification', recipients: ['manager@example.com'] }],
  cooldownSeconds: 3600,
};
const eventRule = {
  name: 'Tag big orders',
  entityType: 'contact',
  trigger: {
    kind: 'event',
    eventType: 'cmis.triggers.action-tracked',
    filter: { field: 'event.event', operator: 'equals', value: 'Order Completed' },
  },
  conditions: { field: 'event.properties.total', operator: '>=', value: 100 },
  actions: [{ kind: 'tag_contact', tags: ['big-spender'] }],
};

const errorsOf = (input: unknown) => {
  const result = checkRule(input);
  if (result.ok) throw new Error('expected the rule to be refused');
  return result.errors;
};

describe('rule type checker', () => {
  it('accepts a holdout share up to 50% and refuses one outside it, naming the field', () => {
    const held = checkRule({ ...cpaRule, holdoutPercent: 20 });
    expect(held.ok && held.definition.holdoutPercent).toBe(20);
    const none = checkRule(cpaRule);
    expect(none.ok && none.definition.holdoutPercent).toBeUndefined();
    expect(errorsOf({ ...cpaRule, holdoutPercent: 51 })).toEqual([
      { path: 'body.holdoutPercent', message: 'holdoutPercent must be between 0 and 50' },
    ]);
    expect(errorsOf({ ...cpaRule, holdoutPercent: -1 })).toEqual([
      { path: 'body.holdoutPercent', message: 'holdoutPercent must be between 0 and 50' },
    ]);
    expect(errorsOf({ ...cpaRule, holdoutPercent: '10' })).toEqual([
      { path: 'body.holdoutPercent', message: 'holdoutPercent must be a number' },
    ]);
  });

  it('accepts the CPA rule and fills defaults', () => {
    const result = checkRule(cpaRule);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.definition).toMatchObject({
      priority: 'normal',
      status: 'active',
      enabled: true,
      description: '',
      conditions: { all: [{ field: 'metrics.cpa', operator: '>', value: 50 }] },
      actions: [{ kind: 'pause_campaign' }, { kind: 'send_notification', channel: 'email' }],
    });
  });

  it('refuses an email notification to something that is not an address (slack may name a channel)', () => {
    const actions = [{ kind: 'send_notification', recipients: ['manager@example.com', 'the manager'] }];
    expect(errorsOf({ ...cpaRule, actions })).toEqual([
      { path: 'body.actions.0.recipients.1', message: 'must be an email address' },
    ]);
    const slack = [{ kind: 'send_notification', channel: 'slack', recipients: ['#growth'] }];
    expect(checkRule({ ...cpaRule, actions: slack }).ok).toBe(true);
  });

  it('accepts an event rule with a filter', () => {
    expect(checkRule(eventRule).ok).toBe(true);
  });

  it('names the path of an unknown operator', () => {
    const errors = errorsOf({
      ...cpaRule,
      conditions: { all: [{ field: 'metrics.cpa', operator: 'gt', value: 50 }] },
    });
    expect(errors).toEqual([
      { path: 'body.conditions.all.0.operator', message: expect.stringContaining('unknown operator "gt"') },
    ]);
  });

  it('names the path of an incompatible comparison', () => {
    const stringOnNumber = errorsOf({
      ...cpaRule,
      conditions: {
        any: [
          { field: 'metrics.cpa', operator: '>', value: 1 },
          { field: 'metrics.cpa', operator: 'equals', value: 'high' },
        ],
      },
    });
    expect(stringOnNumber).toEqual([
      { path: 'body.conditions.any.1.value', message: 'cannot compare metrics.cpa (a number) with "high"' },
    ]);
    const numberOpOnString = errorsOf({
      ...cpaRule,
      conditions: { not: { field: 'entity.id', operator: '>', value: 3 } },
    });
    expect(numberOpOnString).toEqual([
      { path: 'body.conditions.not.operator', message: '> compares numbers; entity.id is a string' },
    ]);
    const containsOnNumber = errorsOf({
      ...cpaRule,
      conditions: { field: 'metrics.cpa', operator: 'contains', value: '5' },
    });
    expect(containsOnNumber[0]!.path).toBe('body.conditions.operator');
    const wrongValue = errorsOf({
      ...cpaRule,
      conditions: { field: 'metrics.cpa', operator: '>', value: '50' },
    });
    expect(wrongValue).toEqual([{ path: 'body.conditions.value', message: '> takes a number' }]);
  });

  it('checks operand shapes of between, in, exists, matches and changed-by', () => {
    const paths = (conditions: unknown) => errorsOf({ ...cpaRule, conditions }).map((e) => e.path);
    expect(paths({ field: 'metrics.cpa', operator: 'between', value: [60, 50] })).toEqual([
      'body.conditions.value',
    ]);
    expect(paths({ field: 'metrics.cpa', operator: 'in', value: [] })).toEqual(['body.conditions.value']);
    expect(paths({ field: 'metrics.cpa', operator: 'exists', value: 1 })).toEqual(['body.conditions.value']);
    expect(paths({ field: 'entity.id', operator: 'matches', value: '(unclosed' })).toEqual([
      'body.conditions.value',
    ]);
    expect(paths({ field: 'entity.id', operator: 'changed_by_more_than_percent', value: 5 })).toEqual([
      'body.conditions.operator',
    ]);
    expect(paths({ field: 'metrics.cpa', operator: 'changed_by_more_than_percent', value: 0 })).toEqual([
      'body.conditions.value',
    ]);
  });

  it('refuses fields the trigger does not provide', () => {
    expect(errorsOf({ ...cpaRule, conditions: { field: 'event.event', operator: 'exists' } })).toEqual([
      { path: 'body.conditions.field', message: expect.stringContaining('unknown field event.event') },
    ]);
    const onEvent = errorsOf({
      ...eventRule,
      conditions: { field: 'event.traits.plan', operator: 'exists' },
    });
    expect(onEvent[0]).toMatchObject({
      path: 'body.conditions.field',
      message: expect.stringContaining('has no traits'),
    });
    expect(
      errorsOf({ ...eventRule, conditions: { field: 'metrics.cpa', operator: '>', value: 1 } })[0]!.path,
    ).toBe('body.conditions.field');
  });

  it('refuses unknown fields of the rule, of a condition and of an action', () => {
    expect(errorsOf({ ...cpaRule, colour: 'red' })).toEqual([
      { path: 'body', message: 'unknown field(s): colour' },
    ]);
    expect(
      errorsOf({ ...cpaRule, conditions: { field: 'metrics.cpa', operator: '>', value: 1, weight: 2 } }),
    ).toEqual([{ path: 'body.conditions', message: 'unknown field(s): weight' }]);
    expect(errorsOf({ ...cpaRule, actions: [{ kind: 'pause_campaign', force: true }] })[0]!.path).toBe(
      'body.actions.0',
    );
    expect(errorsOf({ ...cpaRule, actions: [{ kind: 'launch_rocket' }] })[0]!.path).toBe(
      'body.actions.0.kind',
    );
  });

  it('refuses wrong types with their path', () => {
    const errors = errorsOf({ ...cpaRule, cooldownSeconds: 'an hour', priority: 7 });
    expect(errors.map((e) => e.path).sort()).toEqual(['body.cooldownSeconds', 'body.priority']);
    expect(errorsOf({ ...cpaRule, conditions: [] })).toEqual([
      { path: 'body.conditions', message: expect.any(String) },
    ]);
  });

  it('refuses oversized rules', () => {
    const many = Array.from({ length: MAX_CONDITIONS + 5 }, () => ({
      field: 'metrics.cpa',
      operator: '>',
      value: 1,
    }));
    expect(errorsOf({ ...cpaRule, conditions: { all: many } })).toEqual([
      {
        path: expect.stringMatching(/^body\.conditions\.all\.\d+$/),
        message: `a rule has at most ${MAX_CONDITIONS} conditions`,
      },
    ]);
    let deep: unknown = { field: 'metrics.cpa', operator: '>', value: 1 };
    for (let i = 0; i < 12; i++) deep = { not: deep };
    expect(errorsOf({ ...cpaRule, conditions: deep })[0]!.message).toContain('nest at most');
    const huge = { ...cpaRule, description: 'x'.repeat(MAX_RULE_BYTES) };
    expect(errorsOf(huge)).toEqual([{ path: 'body', message: expect.stringContaining('bytes; at most') }]);
  });

  it('refuses actions the trigger cannot target', () => {
    expect(errorsOf({ ...eventRule, actions: [{ kind: 'pause_campaign' }] })).toEqual([
      { path: 'body.actions.0.campaignId', message: expect.stringContaining('needs a campaignId') },
    ]);
    expect(errorsOf({ ...cpaRule, actions: [{ kind: 'tag_contact', tags: ['x'] }] })[0]!.path).toBe(
      'body.actions.0.contactId',
    );
  });

  it('refuses a webhook URL that points inside the network, by literal address', () => {
    for (const url of [
      'http://127.0.0.1/hook',
      'http://10.1.2.3/hook',
      'http://169.254.169.254/latest/meta-data',
      'http://[::1]/hook',
      'http://[::ffff:10.0.0.1]/hook',
      'http://[fd00::1]/hook',
      'http://100.64.0.1/hook',
      'http://localhost:8080/hook',
      'http://0x7f.1/hook',
      'ftp://example.com/hook',
      'http://user:pw@example.com/hook',
    ]) {
      const errors = errorsOf({ ...cpaRule, actions: [{ kind: 'webhook', url }] });
      expect(errors).toEqual([{ path: 'body.actions.0.url', message: expect.stringMatching(/^url /) }]);
    }
    expect(
      checkRule({ ...cpaRule, actions: [{ kind: 'webhook', url: 'https://hooks.example.com/x' }] }).ok,
    ).toBe(true);
  });

  it('refuses webhook headers the signature owns', () => {
    const errors = errorsOf({
      ...cpaRule,
      actions: [
        { kind: 'webhook', url: 'https://hooks.example.com/x', headers: { 'webhook-signature': 'v1,x' } },
      ],
    });
    expect(errors[0]!.path).toBe('body.actions.0.headers.webhook-signature');
  });
});
