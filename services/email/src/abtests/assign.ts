// Sticky assignment of A/B variants: a hash of the test and the recipient picks the variant, so
// every send of a test to one recipient gets the same one, in any process, without state.
import { createHash } from 'node:crypto';

/** A uniform number in [0, 1) from the parts (the first 48 bits of their sha256). */
function unit(...parts: string[]): number {
  const digest = createHash('sha256').update(parts.join('\u0000')).digest();
  return digest.readUIntBE(0, 6) / 2 ** 48;
}

export function assignVariant<V extends { variantId: string; weight?: number }>(
  testId: string,
  recipientKey: string,
  variants: readonly V[],
): V {
  if (variants.length === 0) throw new Error('an A/B test needs variants');
  const total = variants.reduce((sum, v) => sum + (v.weight ?? 1), 0);
  let point = unit('variant', testId, recipientKey) * total;
  for (const v of variants) {
    point -= v.weight ?? 1;
    if (point < 0) return v;
  }
  return variants[variants.length - 1]!;
}

/** Whether the recipient is in the test share of a broadcast (independent of the variant drawn). */
export function inTestShare(testId: string, recipientKey: string, share: number): boolean {
  return unit('share', testId, recipientKey) < share;
}
