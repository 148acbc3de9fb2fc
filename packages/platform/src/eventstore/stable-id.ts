import { createHash, hash } from 'node:crypto';

/**
 * A uuid derived from its parts (sha256, shaped as version 5): the same firing of the same event
 * always gets the same event and action ids, so a replay cannot mint new side effects.
 */
export function stableId(...parts: Array<string | number>): string {
  const h = hash('sha256', parts.join('\u0000'), 'hex');
  // Version nibble 5; variant bits 10 (the high two bits of byte 8): straight on the hex.
  const variant = VARIANT_DIGITS[parseInt(h[16]!, 16) & 0x3]!;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const VARIANT_DIGITS = ['8', '9', 'a', 'b'];

/** A stream id or key part of bounded length. */
export function boundedId(text: string, max = 150): string {
  return text.length <= max ? text : createHash('sha256').update(text).digest('hex');
}

/** FNV-1a over the text, 32 bits: a spread that is the same in every process (sticky splits, jitter). */
export function stableHash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
