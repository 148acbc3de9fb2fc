import { DeciderSpecification } from '@cmis/platform';
import {
  ruleDecider,
  RuleExistsError,
  RuleNotFoundError,
  RuleVersionConflictError,
  type RuleCommand,
  type RuleEvent,
} from './definitions';
import type { RuleDefinition } from './rule';

const now = new Date('2025-03-01T09:30:00.000Z');
const at = now.toISOString();
const cmd = { now, actor: 'key:k-1', correlationId: 'req-1' };
const metadata = { actor: 'key:k-1', correlationId: 'req-1' };
const ruleId = 'rule-1';
const definition: RuleDefinition = {
  name: 'Pause high CPA campaigns',
  description: '',
  ruleType: 'campaign_performance',
  entityType: 'campaign',
  priority: 'high',
  status: 'active',
  enabled: true,
  cooldownSeconds: 3600,
  trigger: { kind: 'metrics' },
  conditions: { field: 'metrics.cpa', operator: '>', value: 50 },
  actions: [{ kind: 'pause_campaign' }],
};
const created: RuleEvent = {
  type: 'cmis.rules.rule-created',
  data: { ruleId, actor: 'key:k-0', at: '2025-02-01T00:00:00.000Z', previousVersion: 0, definition },
  metadata: { actor: 'key:k-0' },
};
const disabled: RuleEvent = {
  type: 'cmis.rules.rule-disabled',
  data: { ruleId, actor: 'key:k-0', at: '2025-02-02T00:00:00.000Z', previousVersion: 1 },
  metadata: { actor: 'key:k-0' },
};
const command = <T extends RuleCommand['type']>(type: T, data: Extract<RuleCommand, { type: T }>['data']) =>
  ({ type, data, metadata: cmd }) as RuleCommand;
const spec = DeciderSpecification.for(ruleDecider);

describe('rule aggregate', () => {
  it('creates a rule, recording who and the version it started from', () => {
    spec
      .given([])
      .when(command('CreateRule', { ruleId, definition }))
      .then([
        {
          type: 'cmis.rules.rule-created',
          data: { ruleId, actor: 'key:k-1', at, previousVersion: 0, definition },
          metadata,
        },
      ]);
  });

  it('refuses to create a rule twice', () => {
    spec.given([created]).when(command('CreateRule', { ruleId, definition })).thenThrows(RuleExistsError);
  });

  it('updates with the previous version and the fields that changed', () => {
    const next = { ...definition, cooldownSeconds: 600, name: 'Pause CPA' };
    spec
      .given([created])
      .when(command('UpdateRule', { ruleId, definition: next }))
      .then([
        {
          type: 'cmis.rules.rule-updated',
          data: {
            ruleId,
            actor: 'key:k-1',
            at,
            previousVersion: 1,
            definition: next,
            changedFields: ['cooldownSeconds', 'name'],
          },
          metadata,
        },
      ]);
  });

  it('an update that changes nothing records nothing, whatever the key order', () => {
    spec.given([created]).when(command('UpdateRule', { ruleId, definition })).then([]);
    const reordered = Object.fromEntries(Object.entries(definition).reverse()) as RuleDefinition;
    const conditions = {
      value: 50,
      operator: '>',
      field: 'metrics.cpa',
    } as unknown as RuleDefinition['conditions'];
    spec
      .given([created])
      .when(command('UpdateRule', { ruleId, definition: { ...reordered, conditions } }))
      .then([]);
  });

  it('refuses an update against a stale version', () => {
    spec
      .given([created, disabled])
      .when(command('UpdateRule', { ruleId, definition, expectedVersion: 1 }))
      .thenThrows(RuleVersionConflictError, (e) => e.current === 2);
  });

  it('disables an enabled rule and enables it again; repeats change nothing', () => {
    spec
      .given([created])
      .when(command('DisableRule', { ruleId, reason: 'campaign over' }))
      .then([
        {
          type: 'cmis.rules.rule-disabled',
          data: { ruleId, actor: 'key:k-1', at, previousVersion: 1, reason: 'campaign over' },
          metadata,
        },
      ]);
    spec.given([created, disabled]).when(command('DisableRule', { ruleId })).then([]);
    spec
      .given([created, disabled])
      .when(command('EnableRule', { ruleId }))
      .then([
        {
          type: 'cmis.rules.rule-enabled',
          data: { ruleId, actor: 'key:k-1', at, previousVersion: 2 },
          metadata,
        },
      ]);
    spec.given([created]).when(command('EnableRule', { ruleId })).then([]);
  });

  it('deletes a rule; a deleted rule cannot change again', () => {
    const deleted: RuleEvent = {
      type: 'cmis.rules.rule-deleted',
      data: { ruleId, actor: 'key:k-1', at, previousVersion: 1 },
      metadata,
    };
    spec.given([created]).when(command('DeleteRule', { ruleId })).then([deleted]);
    spec.given([created, deleted]).when(command('EnableRule', { ruleId })).thenThrows(RuleNotFoundError);
    spec.given([created, deleted]).when(command('DeleteRule', { ruleId })).thenThrows(RuleNotFoundError);
  });

  it('cannot change a rule that does not exist', () => {
    spec.given([]).when(command('UpdateRule', { ruleId, definition })).thenThrows(RuleNotFoundError);
  });

  it('folds versions and the enabled flag', () => {
    const state = [created, disabled].reduce(ruleDecider.evolve, ruleDecider.initialState());
    expect(state).toMatchObject({ status: 'live', version: 2, definition: { enabled: false } });
  });
});
