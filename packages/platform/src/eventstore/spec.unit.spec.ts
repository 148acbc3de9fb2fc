import { AssertionError } from 'node:assert';
import { RuleNotFoundError, ruleSwitch, type RuleSwitchCommand } from './fixtures/rule-switch';
import { DeciderSpecification } from './spec';

// The helper is only useful if it fails a test when the decider disagrees with the spec.
const metadata = { correlationId: 'c', actor: 'a' };
const created = {
  type: 'RuleCreated',
  data: { ruleId: 'r', name: 'n', createdAt: 'then' },
  metadata,
} as const;
const enable: RuleSwitchCommand = {
  type: 'EnableRule',
  data: { ruleId: 'r' },
  metadata: { ...metadata, now: new Date(0) },
};
const enabledAtEpoch = {
  type: 'RuleEnabled',
  data: { ruleId: 'r', enabledAt: new Date(0).toISOString() },
  metadata,
} as const;
const spec = DeciderSpecification.for(ruleSwitch);

describe('DeciderSpecification', () => {
  it('passes when decide returns exactly the expected events', () => {
    expect(() => spec.given([created]).when(enable).then([enabledAtEpoch])).not.toThrow();
  });

  it('fails when the events differ', () => {
    const otherTime = { ...enabledAtEpoch, data: { ...enabledAtEpoch.data, enabledAt: 'later' } };
    expect(() => spec.given([created]).when(enable).then([otherTime])).toThrow(AssertionError);
  });

  it('fails when decide returns events but none were expected', () => {
    expect(() => spec.given([created]).when(enable).then([])).toThrow(AssertionError);
  });

  it('fails when an error was expected and decide returned events', () => {
    expect(() => spec.given([created]).when(enable).thenThrows(RuleNotFoundError)).toThrow(
      /expected decide to throw/,
    );
  });

  it('fails when decide throws another error class', () => {
    expect(() => spec.given([]).when(enable).thenThrows(TypeError)).toThrow(
      /expected decide to throw TypeError/,
    );
  });

  it('fails when the thrown error does not pass the check', () => {
    expect(() =>
      spec
        .given([])
        .when(enable)
        .thenThrows(RuleNotFoundError, (error) => error.ruleId === 'other'),
    ).toThrow(AssertionError);
    expect(() =>
      spec
        .given([])
        .when(enable)
        .thenThrows(() => false),
    ).toThrow(AssertionError);
  });

  it('fails instead of silently passing when a specification is awaited', async () => {
    const step = spec.given([created]).when(enable);
    await expect(Promise.resolve(step)).rejects.toThrow(/do not await/);
  });
});
