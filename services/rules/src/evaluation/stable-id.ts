import { createHash, hash } from 'node:crypto';

/**
 * A uuid derived from its parts (sha256, shaped as version 5): the same firing of the same event
 * always gets the same event and action ids, so a replay cannot mint new side effects.
 */
export function stableId(...parts: Array<string | number>): string {
  const h = hash('sha256', parts.join('\u0000'), 'buffer');
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.toString('hex', 0, 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A stream id or key part of bounded length. */
export function boundedId(text: string, max = 150): string {
  return text.length <= max ? text : createHash('sha256').update(text).digest('hex');
}
