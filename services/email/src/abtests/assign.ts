// Sticky assignment of A/B variants: a hash of the test and the recipient picks the variant, so
// every send of a test to one recipient gets the same one, in any process, without state. The
// hash is sha256(testId + '\0' + recipientKey), its first 48 bits read as a number in [0, 1):
// anyone (analytics, a support query) can recompute a recipient's variant from the two ids.
import { createHash } from 'node:crypto';

/** Variants that cannot be drawn from: none, or weights that are negative, not finite, or all zero. */
export class AbTestVariantsError extends Error {
  override readonly name = 'AbTestVariantsError';
}

// A different salt for the test share, so that being in the test and the variant drawn are
// independent: otherwise a 20 % share would hold only the variants of the lowest 20 % of hashes.
const SHARE_SALT = 'test-share';

/** A uniform number in [0, 1) from the first 48 bits of sha256 of the parts joined by NUL. */
function uniform(...parts: string[]): number {
  const digest = createHash('sha256').update(parts.join('\u0000')).digest();
  return digest.readUIntBE(0, 6) / 2 ** 48;
}

/** The recipient's variant; `weight` defaults to 1, so variants without weights are equally likely. */
export function assignVariant<V extends { variantId: string; weight?: number }>(
  testId: string,
  recipientKey: string,
  variants: readonly V[],
): V {
  const weights = variants.map((v) => v.weight ?? 1);
  if (weights.some((w) => !Number.isFinite(w) || w < 0))
    throw new AbTestVariantsError(`variant weights must be finite and not negative: ${weights.join(', ')}`);
  const total = weights.reduce((sum, w) => sum + w, 0);
  if (!(total > 0)) throw new AbTestVariantsError('an A/B test needs a variant with a positive weight');
  let point = uniform(testId, recipientKey) * total;
  let last = 0;
  for (const [i, w] of weights.entries()) {
    if (w === 0) continue;
    last = i;
    point -= w;
    if (point < 0) return variants[i]!;
  }
  // Rounding can leave the point at the very top: it belongs to the last variant that has weight.
  return variants[last]!;
}

/** Whether the recipient is in the test share (0 to 1) of a broadcast, independently of the variant. */
export function inTestShare(testId: string, recipientKey: string, share: number): boolean {
  return uniform(SHARE_SALT, testId, recipientKey) < share;
}
