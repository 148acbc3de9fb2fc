export { createOutboxRelay, toEnvelope, type OutboxRelay, type OutboxRelayOptions } from './relay';
export { outboxMigrations } from './migrations';
export { RELAY_SHARDS } from './shards';
