/** Publishing to, subscribing to or measuring a topic nobody ensured (there is no auto-create). */
export class UnknownTopicError extends Error {
  override name = 'UnknownTopicError';
  constructor(readonly topics: string[]) {
    super(`unknown topic${topics.length > 1 ? 's' : ''} ${topics.join(', ')}: call ensureTopics first`);
  }
}

/** The bus was closed; nothing can be published or subscribed through it any more. */
export class EmbeddedBusClosedError extends Error {
  override name = 'EmbeddedBusClosedError';
  constructor() {
    super('the embedded bus is closed');
  }
}

/** A member's dedicated session ended, and with it the advisory locks that made it an owner. */
export class OwnershipLostError extends Error {
  override name = 'OwnershipLostError';
  constructor() {
    super('the member lost its session and the partitions it owned');
  }
}
