export { createEmbeddedBus, type EmbeddedBus, type EmbeddedBusOptions } from './embedded-bus';
export type { StuckHandler } from './group-member';
export { EmbeddedBusClosedError, OwnershipLostError, UnknownTopicError } from './errors';
export { partitionForKey } from './partitioner';
export { KAFKA_DEFAULT_RETENTION_MS } from './topics';
