export {
  EnvelopeAttributes,
  EventEnvelope,
  createEnvelope,
  causedBy,
  type EnvelopeInput,
  type TypedEnvelope,
} from './envelope';
export { newEventId } from './event-id';
export {
  TRACEPARENT_HEADER,
  TRACESTATE_HEADER,
  headerText,
  withTraceContext,
  traceContextOf,
  type TraceContext,
  type HeaderValue,
  type MessageHeaders,
} from './trace-context';
export {
  DEFAULT_PARTITIONS,
  DEAD_LETTER_RETENTION_MS,
  RETAIN_FOREVER,
  TOPIC_NAME_PATTERN,
  EVENT_TYPE_PATTERN,
  messageKey,
  deadLetterTopicName,
  deadLetterTopicOf,
  defineTopic,
  type ServiceName,
  type EventSchemas,
  type KeyParts,
  type TopicDefinition,
  type DeadLetterTopicDefinition,
  type TopicSpec,
} from './topic';
export {
  allTopics,
  deadLetterTopics,
  catalogEntries,
  topicByName,
  eventTopicByName,
  payloadSchema,
  isEventTypeOf,
  createTopicEnvelope,
  type CatalogTopic,
  type TopicName,
  type TopicNamed,
  type EventTypeOf,
  type EventSchemaOf,
  type EventDataOf,
  type TopicEnvelope,
  type AnyCatalogEntry,
} from './catalog';
export * from './topics/tenancy';
export * from './topics/triggers';
export * from './topics/rules';
export * from './topics/email';
export * from './topics/workflows';
export * from './topics/drip';
export * from './topics/analytics';
export { topicValueSchema, topicJsonSchema, jsonSchemaOf, type JsonSchema } from './json-schema';
export { compiledSchemaCheck, type CompiledCheck } from './compiled-validator';
export {
  checkBackwardCompatibility,
  isBackwardCompatible,
  type CompatibilityIssue,
  type CompatibilityIssueKind,
} from './compatibility';
export {
  createRegistryClient,
  registerTopicSchema,
  SchemaRegistryError,
  registerAllSchemas,
  topicValueSubject,
  type SubjectNaming,
  type RegisteredTopicSchema,
} from './schema-registry';
export {
  createCodec,
  DecodeError,
  EncodeError,
  UnknownTopicError,
  CONTENT_TYPE_HEADER,
  CLOUDEVENTS_JSON,
  SCHEMA_VERSION_HEADER,
  type Codec,
  type CodecOptions,
  type DecodeErrorReason,
  type EncodedMessage,
  type IncomingMessage,
  type ValidationIssue,
} from './codec';
export {
  provisionTopics,
  reconcileTopics,
  awaitTopicLeaders,
  type ProvisionOptions,
  type TopicAdmin,
  type ReconcileAdmin,
  type ReconcileResult,
  type PartitionDrift,
} from './provision';
export { renderCatalogDoc } from './catalog-doc';
