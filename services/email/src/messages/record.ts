// Applies a command to one message in the caller's org transaction: its events go to the message
// stream (published on the messages topic) and its read-model row follows the new status.
import { emailMessagesTopic } from '@cmis/contracts';
import { handleCommand, type ServiceRuntime } from '@cmis/platform';
import type { Knex } from 'knex';
import {
  messageDecider,
  type MessageCommand,
  type MessageEvent,
  type MessageMetadata,
  type MessageState,
} from './message';

export const MESSAGE_STREAM = 'email-message';

/** The Kafka subject of a message's events: its contact, else its address. */
export const recipientSubject = (state: { contactId?: string; address?: string }, fallback: string) =>
  state.contactId ?? state.address ?? fallback;

export async function recordMessage(
  rt: ServiceRuntime,
  trx: Knex.Transaction,
  orgId: string,
  messageId: string,
  command: MessageCommand,
): Promise<{ state: MessageState; events: MessageEvent[] }> {
  const result = await handleCommand(
    rt.eventStore,
    trx,
    messageDecider,
    { orgId, streamType: MESSAGE_STREAM, streamId: messageId },
    command,
    {
      topic: emailMessagesTopic.name,
      key: (event) => `${orgId}:${recipientSubject(event.data, messageId)}`,
      now: () => new Date(command.metadata.at),
    },
  );
  if (result.newEvents.length > 0) {
    void trx.executionPromise.then(
      () => rt.relay.wake(),
      () => undefined,
    );
  }
  return { state: result.newState, events: result.newEvents };
}

/** The command's metadata: when, and the causal chain with the active trace context. */
export function messageMetadata(
  rt: ServiceRuntime,
  at: Date,
  chain: { correlationId?: string; causationId?: string; actor?: string } = {},
): MessageMetadata {
  return { ...rt.eventMetadata(chain), at: at.toISOString() };
}
