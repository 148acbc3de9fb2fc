export * from './bus';
export { Wakeup } from './signals';
export { createKafkaBus, type KafkaBusOptions } from './kafka';
export {
  PoisonMessageError,
  DEAD_LETTER_HEADERS,
  deadLetter,
  eachMessage,
  defaultDeadLetterTopic,
} from './dead-letter';
export { busConformanceSuite } from './conformance';
export * from './embedded';
