import { checkWorkflow } from '../definitions/compile';
import { stepIndex, WorkflowInput, type RandomSplitStep } from '../definitions/workflow';
import { advance, emptyState, evolve, type CompiledWorkflow, type EngineInput } from './engine';
import { banditOptionsOf, branchAt, splitWeights, stickyBucket, type SplitAllocation } from './split';

const T0 = '2026-12-06T10:00:00.000Z';
const start: EngineInput = { kind: 'start', at: T0, entry: 'api', causeId: 'e-1' };

const banditDraft = (split: Record<string, unknown> = {}) => ({
  name: 'bandit',
  start: 'ab',
  steps: [
    {
      id: 'ab',
      kind: 'random_split',
      allocation: 'bandit',
      branches: [
        { name: 'a', weight: 1, next: 'pause' },
        { name: 'b', weight: 1, next: 'pause' },
      ],
      ...split,
    },
    // A cycle back into the split, through a delay: a second visit of the same instance.
    { id: 'pause', kind: 'delay', duration: '1d', next: 'ab' },
  ],
});

function compiled(draft: unknown): CompiledWorkflow {
  const definition = WorkflowInput.parse(draft);
  return {
    workflowId: 'wf-1',
    version: 1,
    definition,
    steps: stepIndex(definition),
    test: () => ({ outcome: 'failed', trace: [] }),
  };
}

const splitOf = (wf: CompiledWorkflow) => wf.steps.get('ab') as RandomSplitStep;
const instance = (i: number) =>
  emptyState({ instanceId: `i-${i}`, workflowId: 'wf-1', version: 1, contactId: `c-${i}` });
const passOf = (r: ReturnType<typeof advance>) =>
  r.events.find((e) => e.type === 'cmis.workflows.step-completed' && e.data.stepId === 'ab')!.data as {
    outcome: string;
    detail?: Record<string, unknown>;
  };
const allocation = (a: number, b: number, revision = 4): Record<string, SplitAllocation> => ({
  ab: { revision, asOf: T0, weights: { a, b } },
});

describe('random split weights', () => {
  it('maps a bucket through weights the same way every time, the last branch taking what rounding leaves', () => {
    const weights: Array<[string, number]> = [
      ['a', 0.25],
      ['b', 0.75],
    ];
    expect(branchAt(0, 0, weights)).toBe('a');
    expect(branchAt(2_499, 0, weights)).toBe('a');
    expect(branchAt(2_500, 0, weights)).toBe('b');
    expect(branchAt(9_999, 0, weights)).toBe('b');
    // Past a holdout of 1,000 buckets the rest is rescaled: 1,000 + 9,000 × 0.25 = 3,250.
    expect(branchAt(3_249, 1_000, weights)).toBe('a');
    expect(branchAt(3_250, 1_000, weights)).toBe('b');
    // Weights summing to a hair under 1 (floating point): the end still lands on a branch.
    expect(
      branchAt(9_999, 0, [
        ['a', 0.3],
        ['b', 0.6999999],
      ]),
    ).toBe('b');
  });

  it('splits many contacts in the proportions of the weights', () => {
    const weights: Array<[string, number]> = [
      ['a', 0.1],
      ['b', 0.7],
      ['c', 0.2],
    ];
    const n = 20_000;
    const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < n; i++) counts[branchAt(stickyBucket('wf-1', `c-${i}`, 'ab'), 0, weights)]! += 1;
    // Binomial sd at n = 20,000 is at most 0.0036: 0.015 is beyond four of them.
    expect(counts.a! / n).toBeCloseTo(0.1, 1);
    expect(Math.abs(counts.a! / n - 0.1)).toBeLessThan(0.015);
    expect(Math.abs(counts.b! / n - 0.7)).toBeLessThan(0.015);
    expect(Math.abs(counts.c! / n - 0.2)).toBeLessThan(0.015);
  });

  it('takes a bandit allocation only when it names exactly the branches; the configured weights before one', () => {
    const step = splitOf(
      compiled(
        banditDraft({
          branches: [
            { name: 'a', weight: 9 },
            { name: 'b', weight: 1 },
          ],
        }),
      ),
    );
    expect(splitWeights(step, undefined)).toEqual({
      weights: [
        ['a', 9],
        ['b', 1],
      ],
      from: { source: 'configured', reason: 'no allocation yet' },
    });
    expect(splitWeights(step, allocation(0.2, 0.8).ab)).toEqual({
      weights: [
        ['a', 0.2],
        ['b', 0.8],
      ],
      from: { source: 'allocation', revision: 4, asOf: T0 },
    });
    const renamed = { revision: 5, asOf: T0, weights: { a: 0.5, z: 0.5 } };
    expect(splitWeights(step, renamed)).toMatchObject({
      weights: [
        ['a', 9],
        ['b', 1],
      ],
      from: { source: 'configured', reason: 'allocation names a, z, not the branches' },
    });
    const fixed = splitOf(
      compiled({
        ...banditDraft(),
        steps: [{ ...banditDraft().steps[0], allocation: 'fixed' }, banditDraft().steps[1]],
      }),
    );
    expect(splitWeights(fixed, allocation(0.2, 0.8).ab).from).toEqual({ source: 'fixed' });
  });

  it('defaults the exploration share to 10% of traffic spread over the branches', () => {
    expect(banditOptionsOf(splitOf(compiled(banditDraft())))).toEqual({
      metric: 'conversion',
      explorationShare: 0.05,
    });
    expect(
      banditOptionsOf(
        splitOf(compiled(banditDraft({ bandit: { explorationShare: 0.2, metric: 'conversion' } }))),
      ),
    ).toEqual({ metric: 'conversion', explorationShare: 0.2 });
  });
});

describe('bandit random split in the engine', () => {
  const wf = compiled(banditDraft());

  it('follows the allocation, records the branch, the weights and their revision, and decides the same again', () => {
    const n = 4_000;
    let b = 0;
    for (let i = 0; i < n; i++) {
      const r = advance(instance(i), start, { workflow: wf, allocations: allocation(0.1, 0.9) });
      const pass = passOf(r);
      if (pass.outcome === 'b') b += 1;
      if (i < 3)
        expect(pass.detail).toEqual({
          branch: pass.outcome,
          allocation: 'bandit',
          metric: 'conversion',
          explorationShare: 0.05,
          variants: ['a', 'b'],
          weights: { a: 0.1, b: 0.9 },
          allocationRevision: 4,
        });
      // Replaying the same input on the same state (a redelivery) chooses the same branch.
      if (i < 50)
        expect(
          advance(instance(i), start, { workflow: wf, allocations: allocation(0.1, 0.9) }).events,
        ).toEqual(r.events);
    }
    expect(Math.abs(b / n - 0.9)).toBeLessThan(0.03);
  });

  it('uses the configured weights before any allocation and says so', () => {
    const r = advance(instance(1), start, { workflow: wf });
    expect(passOf(r).detail).toMatchObject({ weights: { a: 1, b: 1 }, allocation: 'bandit' });
    expect(passOf(r).detail).not.toHaveProperty('allocationRevision');
    expect(r.decisions.find((d) => d.kind === 'random_split')!.inputs).toMatchObject({
      source: 'configured',
      reason: 'no allocation yet',
    });
  });

  it('keeps the branch an instance recorded when it passes the split again under new weights', () => {
    // All to a, then all (but the floor) to b: the second visit still takes a.
    const first = advance(instance(7), start, { workflow: wf, allocations: allocation(1, 0) });
    expect(passOf(first).outcome).toBe('a');
    // The state is what the events say: folding them gives what the engine returned.
    expect(first.events.reduce(evolve, instance(7))).toMatchObject({ steps: first.state.steps });
    const again = advance(
      first.state,
      { kind: 'timer', at: '2026-12-07T10:00:00.000Z', stepId: 'pause', visit: 1, purpose: 'delay' },
      { workflow: wf, allocations: allocation(0, 1, 9) },
    );
    const pass = passOf(again);
    expect(pass.outcome).toBe('a');
    expect(again.decisions.find((d) => d.kind === 'random_split')!.inputs).toMatchObject({
      source: 'recorded',
    });
  });
});

describe('bandit split validation', () => {
  const errorsOf = (draft: unknown) => {
    const r = checkWorkflow(draft);
    return r.ok ? [] : r.errors;
  };

  it('accepts a bandit split with two branches and an exploration share within 1/branches', () => {
    expect(errorsOf(banditDraft({ bandit: { explorationShare: 0.5 } }))).toEqual([]);
    expect(errorsOf(banditDraft({ bandit: { explorationShare: 0 } }))).toEqual([]);
  });

  it('refuses a bandit with one branch, naming the step', () => {
    expect(errorsOf(banditDraft({ branches: [{ name: 'a', weight: 1, next: 'pause' }] }))).toEqual([
      {
        path: 'body.steps.0.branches',
        message: 'step ab: a bandit split needs at least two branches, it has 1',
      },
    ]);
  });

  it('refuses an exploration share above 1/branches or below 0', () => {
    expect(errorsOf(banditDraft({ bandit: { explorationShare: 0.6 } }))).toEqual([
      {
        path: 'body.steps.0.bandit.explorationShare',
        message: 'step ab: explorationShare 0.6 is above 1/2 (2 branches each keep it)',
      },
    ]);
    expect(errorsOf(banditDraft({ bandit: { explorationShare: -0.1 } }))).toEqual([
      expect.objectContaining({ path: 'body.steps.0.bandit.explorationShare' }),
    ]);
  });

  it('refuses bandit options on a fixed split and an unknown metric', () => {
    expect(errorsOf(banditDraft({ allocation: 'fixed', bandit: { explorationShare: 0.1 } }))).toEqual([
      { path: 'body.steps.0.bandit', message: 'step ab: bandit options need allocation: bandit' },
    ]);
    expect(errorsOf(banditDraft({ bandit: { metric: 'revenue' } }))).toEqual([
      expect.objectContaining({ path: 'body.steps.0.bandit.metric' }),
    ]);
  });
});
