import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Compares secrets without leaking, through timing, how much of a guess was right. Both sides are
 * hashed first so that inputs of different lengths take the same path.
 */
export function equalsConstantTime(a: string | Buffer, b: string | Buffer): boolean {
  const digest = (x: string | Buffer) => createHash('sha256').update(x).digest();
  return timingSafeEqual(digest(a), digest(b));
}
