export * from './bus';
export { Wakeup } from './signals';
export { createKafkaBus, type KafkaBusOptions } from './kafka';
export {
  createReadThrough,
  type ReadThrough,
  type ReadThroughCheck,
  type ReadThroughOptions,
} from './read-through';
export {
  PoisonMessageError,
  DEAD_LETTER_HEADERS,
  deadLetter,
  eachMessage,
  defaultDeadLetterTopic,
} from './dead-letter';
export { busConformanceSuite } from './conformance';
export * from './embedded';
