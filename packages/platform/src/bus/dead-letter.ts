import type { Bus, BusMessage, MessageBatch, SubscribeOptions } from './bus';

/**
 * A message that can never be processed (undecodable, fails its schema, breaks a domain
 * invariant). It goes to the dead-letter topic with the reason; the partition moves on.
 * Any other error is treated as transient and the batch is retried.
 */
export class PoisonMessageError extends Error {
  override name = 'PoisonMessageError';
  constructor(
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
  }
}

export const DEAD_LETTER_HEADERS = {
  reason: 'cmis-dlq-reason',
  topic: 'cmis-dlq-original-topic',
  partition: 'cmis-dlq-original-partition',
  offset: 'cmis-dlq-original-offset',
  group: 'cmis-dlq-consumer-group',
} as const;

export const defaultDeadLetterTopic = (topic: string) => `${topic}.dlq`;

/** Publishes `message` as it came (key, value, headers) to its dead-letter topic, with why. */
export async function deadLetter(
  bus: Bus,
  message: BusMessage,
  reason: string,
  groupId: string,
  deadLetterTopic: (topic: string) => string = defaultDeadLetterTopic,
): Promise<void> {
  await bus.publish(deadLetterTopic(message.topic), [
    {
      key: message.key ?? '',
      value: message.value ?? Buffer.alloc(0),
      headers: {
        ...message.headers,
        [DEAD_LETTER_HEADERS.reason]: reason.slice(0, 4_000),
        [DEAD_LETTER_HEADERS.topic]: message.topic,
        [DEAD_LETTER_HEADERS.partition]: String(message.partition),
        [DEAD_LETTER_HEADERS.offset]: message.offset,
        [DEAD_LETTER_HEADERS.group]: groupId,
      },
    },
  ]);
}

/**
 * A batch handler that handles messages one by one in order, dead-lettering poison ones.
 * A failed dead-letter publish fails the batch, so a poison message is never lost.
 */
export function eachMessage(
  bus: Bus,
  groupId: string,
  handle: (message: BusMessage) => Promise<void>,
  deadLetterTopic?: (topic: string) => string,
): SubscribeOptions['handleBatch'] {
  return async (batch: MessageBatch) => {
    for (const message of batch.messages) {
      try {
        await handle(message);
      } catch (error) {
        if (!(error instanceof PoisonMessageError)) throw error;
        await deadLetter(bus, message, error.reason, groupId, deadLetterTopic);
      }
    }
  };
}
