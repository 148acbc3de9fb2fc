// A rule's holdout: a sticky share of subjects, by a hash of rule and subject, whose firings are
// recorded but whose actions are not requested (the same subject is held out on every firing).
import { stableHash32 } from '@cmis/platform';

const BUCKETS = 10_000;

export function isHeldOut(holdoutPercent: number | undefined, ruleId: string, subject: string): boolean {
  if (!holdoutPercent || holdoutPercent <= 0) return false;
  return stableHash32(`${ruleId}\u0000${subject}`) % BUCKETS < Math.round(holdoutPercent * (BUCKETS / 100));
}
