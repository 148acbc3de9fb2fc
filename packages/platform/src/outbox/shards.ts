/**
 * The relay splits unpublished events into shards by key; one relay replica at a time owns a
 * shard (a transaction-level advisory lock), so the events of one key leave in position order
 * even with several replicas, while different shards go out in parallel. A power of two.
 */
export const RELAY_SHARDS = 16;
/**
 * First half of a relay's shard advisory lock key: FNV-1a (32-bit, signed) of the service's
 * schema. Advisory locks are database-wide, so a constant here made the relays of different
 * services (rules, triggers, ...) on one database take each other's shards and wait on each other.
 * A collision between two schemas only costs that sharing again, never an event.
 */
export function relayLockClass(schema: string): number {
  let hash = 0x811c9dc5;
  const text = `cmis-relay:${schema}`;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash | 0;
}
