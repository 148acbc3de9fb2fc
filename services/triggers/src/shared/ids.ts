import { hash, randomBytes } from 'node:crypto';

/**
 * A UUID derived from its parts (sha256, shaped as a version-8 UUID). Ingested facts get one
 * from `<orgId>:<messageId>`, so a copy that slips past the Redis dedupe still carries the same
 * event id and every inbox consumer drops it.
 */
export function stableUuid(...parts: string[]): string {
  const hex = hash('sha256', parts.join('\u0000'), 'hex');
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** A prefixed, URL-safe random id such as `src_Xk3…`. */
export function randomId(prefix: string, bytes = 12): string {
  return `${prefix}_${randomBytes(bytes).toString('base64url')}`;
}
