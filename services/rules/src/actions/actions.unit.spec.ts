import type { AdjustBudgetAction } from '@cmis/contracts';
import { resolveAction } from './actions';
import { boundBudgetChange } from './budget';

const ctx = { entity: { type: 'campaign', id: 'cmp-9' }, metrics: { cpa: 61.5, budget: 100 } };
const target = { subject: 'cmp-9', entity: ctx.entity };
const rule = { name: 'Pause high CPA campaigns' };

describe('action resolution', () => {
  it('targets the entity of a metrics rule and explains a notification', () => {
    expect(resolveAction({ kind: 'pause_campaign' }, rule, ctx, target, ['metrics.cpa'])).toEqual({
      kind: 'pause_campaign',
      campaignId: 'cmp-9',
    });
    expect(
      resolveAction(
        { kind: 'send_notification', channel: 'email', recipients: ['manager@example.com'] },
        rule,
        ctx,
        target,
        ['metrics.cpa'],
      ),
    ).toEqual({
      kind: 'send_notification',
      channel: 'email',
      recipients: ['manager@example.com'],
      title: 'Rule "Pause high CPA campaigns" fired',
      message: 'Rule "Pause high CPA campaigns" fired for campaign cmp-9 (metrics.cpa = 61.5)',
    });
  });

  it('fills placeholders in messages and webhook bodies', () => {
    const note = resolveAction(
      {
        kind: 'send_notification',
        channel: 'slack',
        recipients: ['#ads'],
        message: 'CPA {{ metrics.cpa }} on {{entity.id}}{{metrics.none}}',
      },
      rule,
      ctx,
      target,
      [],
    );
    expect(note).toMatchObject({ message: 'CPA 61.5 on cmp-9' });
    const hook = resolveAction(
      {
        kind: 'webhook',
        url: 'https://h.example.com',
        method: 'POST',
        headers: {},
        body: { id: '{{entity.id}}', nested: ['{{metrics.cpa}}', 3] },
      },
      rule,
      ctx,
      target,
      [],
    );
    expect(hook).toMatchObject({ body: { id: 'cmp-9', nested: ['61.5', 3] } });
  });

  it('targets the contact of an event rule unless the template names one', () => {
    const contact = { subject: 'u-1', contactId: 'u-1' };
    expect(resolveAction({ kind: 'tag_contact', tags: ['vip'] }, rule, {}, contact, [])).toEqual({
      kind: 'tag_contact',
      contactId: 'u-1',
      tags: ['vip'],
    });
    expect(
      resolveAction({ kind: 'enroll_drip', dripId: 'd', contactId: 'u-2' }, rule, {}, contact, []),
    ).toMatchObject({ contactId: 'u-2' });
  });
});

describe('budget bounds', () => {
  const increase: AdjustBudgetAction = {
    kind: 'adjust_budget',
    campaignId: 'c',
    mode: 'increase_percent',
    amount: 20,
  };
  it('clamps a percent change to what is left of the day', () => {
    expect(boundBudgetChange(increase, { maxDailyChangePercent: 30, usedPercentToday: 15 })).toMatchObject({
      allowed: true,
      percent: 15,
      clamped: true,
      action: { amount: 15 },
    });
    expect(boundBudgetChange(increase, { maxDailyChangePercent: 30, usedPercentToday: 30 })).toEqual({
      allowed: false,
      reason: 'daily budget change limit of 30% reached',
    });
    expect(boundBudgetChange(increase, { usedPercentToday: 500 })).toMatchObject({
      allowed: true,
      percent: 20,
    });
  });

  it('keeps a new budget within min/max and the daily change', () => {
    const set: AdjustBudgetAction = {
      kind: 'adjust_budget',
      campaignId: 'c',
      mode: 'set',
      amount: 500,
      maxBudget: 300,
    };
    expect(boundBudgetChange(set, { usedPercentToday: 0, currentBudget: 100 })).toMatchObject({
      action: { amount: 300 },
      percent: 200,
    });
    expect(
      boundBudgetChange(set, { maxDailyChangePercent: 50, usedPercentToday: 10, currentBudget: 100 }),
    ).toMatchObject({
      action: { amount: 140 },
      percent: 40,
      clamped: true,
    });
    expect(boundBudgetChange(set, { maxDailyChangePercent: 50, usedPercentToday: 0 })).toMatchObject({
      allowed: false,
    });
  });
});
