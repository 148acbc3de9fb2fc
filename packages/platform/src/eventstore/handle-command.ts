import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Decider } from './decider';
import { ConcurrencyError } from './errors';
import type { EventStore } from './event-store';
import type { Event, Message, StreamRef } from './types';

export type HandleCommandOptions<E extends Event> = {
  /** Reload-and-decide attempts after a ConcurrencyError before giving up (default 3). */
  maxRetries?: number;
  /** Kafka topic per event (or for all); undefined keeps the event private to the service. */
  topic?: string | ((event: E) => string | undefined);
  /** Kafka key per event; the store defaults to `<orgId>:<streamId>`. */
  key?: (event: E) => string;
  /** Event ids and the recording time; defaults are random uuids and the wall clock. */
  newEventId?: () => string;
  now?: () => Date;
};

export type HandleCommandResult<State, E extends Event> = {
  newState: State;
  newEvents: E[];
  /** Version of the stream after the command (unchanged if it decided nothing). */
  nextVersion: number;
  positions: bigint[];
};

/**
 * Loads the stream, decides, and appends with the loaded version as the expected version, in
 * the caller's transaction. A concurrent writer makes the append fail with ConcurrencyError;
 * the command is then decided again on fresh state (READ COMMITTED sees the winner's events)
 * up to `maxRetries` times. Domain errors from `decide` propagate untouched.
 */
export async function handleCommand<State, C extends Message, E extends Event>(
  store: EventStore,
  trx: Knex.Transaction,
  decider: Decider<State, C, E>,
  stream: StreamRef,
  command: C,
  options: HandleCommandOptions<E> = {},
): Promise<HandleCommandResult<State, E>> {
  const maxRetries = options.maxRetries ?? 3;
  const newEventId = options.newEventId ?? randomUUID;
  const now = options.now ?? (() => new Date());
  const topicOf = (event: E) => (typeof options.topic === 'function' ? options.topic(event) : options.topic);

  for (let attempt = 0; ; attempt++) {
    const { state, currentVersion } = await store.aggregateStream(
      trx,
      decider,
      stream.orgId,
      stream.streamType,
      stream.streamId,
    );
    const newEvents = decider.decide(command, state);
    const newState = newEvents.reduce((next, event) => decider.evolve(next, event), state);
    if (newEvents.length === 0) return { newState, newEvents, nextVersion: currentVersion, positions: [] };

    const occurredAt = now();
    try {
      const { nextVersion, positions } = await store.append(trx, {
        ...stream,
        expectedVersion: currentVersion === 0 ? 'no_stream' : currentVersion,
        events: newEvents.map((event) => ({
          id: newEventId(),
          type: event.type,
          data: event.data,
          metadata: event.metadata,
          topic: topicOf(event),
          key: options.key?.(event),
          occurredAt,
        })),
      });
      return { newState, newEvents, nextVersion, positions };
    } catch (error) {
      if (!(error instanceof ConcurrencyError) || attempt >= maxRetries) throw error;
    }
  }
}
