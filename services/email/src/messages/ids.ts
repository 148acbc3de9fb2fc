import { createHash } from 'node:crypto';

/**
 * A message's id: derived from the org and the idempotency key, so every repeat of a request
 * (a redelivered event, a retried API call, a replica) names the same message. 32 hex digits:
 * short enough for VERP local parts and Message-IDs, and not guessable without the key.
 */
export function messageIdOf(orgId: string, idempotencyKey: string): string {
  return createHash('sha256').update(`${orgId}\u0000${idempotencyKey}`).digest('hex').slice(0, 32);
}
