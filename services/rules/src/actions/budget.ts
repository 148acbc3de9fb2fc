// Budget changes within bounds and a maximum total change per campaign and day. Pure: the caller
// supplies the change already made today and the current budget (the entity's metrics.budget).
import type { AdjustBudgetAction } from '@cmis/contracts';

export type BudgetDecision =
  | { allowed: true; action: AdjustBudgetAction; percent: number; clamped: boolean }
  | { allowed: false; reason: string };

export function boundBudgetChange(
  action: AdjustBudgetAction,
  limits: { maxDailyChangePercent?: number; usedPercentToday: number; currentBudget?: number },
): BudgetDecision {
  const { maxDailyChangePercent: max, usedPercentToday: used, currentBudget } = limits;
  const remaining = max === undefined ? Number.POSITIVE_INFINITY : Math.max(0, max - used);
  const clampToBounds = (budget: number) =>
    Math.min(action.maxBudget ?? Number.POSITIVE_INFINITY, Math.max(action.minBudget ?? 0, budget));

  if (action.mode !== 'set') {
    if (remaining <= 0) return { allowed: false, reason: `daily budget change limit of ${max}% reached` };
    const percent = Math.min(action.amount, remaining);
    return {
      allowed: true,
      action: { ...action, amount: percent },
      percent,
      clamped: percent !== action.amount,
    };
  }
  let target = clampToBounds(action.amount);
  if (currentBudget === undefined || currentBudget <= 0) {
    if (max !== undefined) {
      return {
        allowed: false,
        reason: 'the current budget is unknown (no metrics.budget), so the daily limit cannot be applied',
      };
    }
    return {
      allowed: true,
      action: { ...action, amount: target },
      percent: 0,
      clamped: target !== action.amount,
    };
  }
  let percent = (Math.abs(target - currentBudget) / currentBudget) * 100;
  if (percent > remaining) {
    if (remaining <= 0) return { allowed: false, reason: `daily budget change limit of ${max}% reached` };
    const step = (currentBudget * remaining) / 100;
    target = clampToBounds(target > currentBudget ? currentBudget + step : currentBudget - step);
    percent = (Math.abs(target - currentBudget) / currentBudget) * 100;
  }
  return {
    allowed: true,
    action: { ...action, amount: round2(target) },
    percent,
    clamped: round2(target) !== action.amount,
  };
}

const round2 = (n: number) => Math.round(n * 100) / 100;
