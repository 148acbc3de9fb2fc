// What the workflows specs share: a track call as ingest puts it on the user-actions topic.
import { randomUUID } from 'node:crypto';
import { createTopicEnvelope, userActionsTopic, type EventEnvelope } from '@cmis/contracts';
import type { OutgoingMessage, Platform } from '@cmis/platform';

/** A `cmis.triggers.action-tracked` message keyed by its contact; `id` is also its messageId. */
export async function trackMessage(
  codec: Platform['codec'],
  call: {
    orgId: string;
    contactId: string;
    event: string;
    properties?: Record<string, unknown>;
    id?: string;
    at?: Date;
  },
): Promise<{ id: string; message: OutgoingMessage }> {
  const id = call.id ?? randomUUID();
  const envelope = createTopicEnvelope(userActionsTopic.name, {
    id,
    time: new Date().toISOString(),
    source: '/cmis/workflows-spec',
    type: 'cmis.triggers.action-tracked',
    subject: call.contactId,
    orgId: call.orgId,
    data: {
      userId: call.contactId,
      event: call.event,
      properties: call.properties ?? {},
      context: {},
      messageId: id,
      timestamp: (call.at ?? new Date()).toISOString(),
      sourceId: 'spec',
    },
  });
  const { value, headers } = await codec.encode(userActionsTopic.name, envelope as EventEnvelope);
  return { id, message: { key: `${call.orgId}:${call.contactId}`, value, headers } };
}

/** The abandoned cart journey: wait for an order up to `timeout`, else remind; goal an order over 0. */
export const cart = (timeout = '2s') => ({
  name: 'Abandoned cart',
  entry: { event: 'cart_abandoned' },
  start: 'wait-order',
  steps: [
    {
      id: 'wait-order',
      kind: 'wait_event',
      event: 'order_completed',
      timeout,
      received: 'ordered',
      timedOut: 'remind',
    },
    { id: 'remind', kind: 'send_email', templateId: 'cart-reminder' },
    { id: 'ordered', kind: 'exit', reason: 'ordered' },
  ],
  goals: [{ event: 'order_completed', filter: { field: 'event.properties.total', operator: '>', value: 0 } }],
  reentry: { policy: 'once_per_period', periodDays: 1 },
});
