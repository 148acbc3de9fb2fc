/**
 * The relay splits unpublished events into shards by key; one relay replica at a time owns a
 * shard (a transaction-level advisory lock), so the events of one key leave in position order
 * even with several replicas, while different shards go out in parallel. A power of two.
 */
export const RELAY_SHARDS = 16;
/** First half of the advisory lock key: "cmis" outbox relay. */
export const RELAY_LOCK_CLASS = 0x636d6973;
