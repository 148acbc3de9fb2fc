// Carries out webhook actions: the action-requested event is the recorded intent; the delivery
// runs with its actionId as the idempotency key, and its outcome is appended as an event.
import { ruleActionsTopic, ruleEventsTopic, type ActionRequested, type WebhookAction } from '@cmis/contracts';
import type { ServiceRuntime } from '@cmis/platform';
import { stableId } from '../evaluation/stable-id';
import type { WebhookSender } from './deliver';

// Every action of every rule comes by the actions topic, and only webhooks are this consumer's.
// A webhook action's JSON holds its kind as the string "webhook" (the relay's JSON.stringify
// escapes no letters), so a message without those bytes is skipped undecoded, with no inbox work.
const WEBHOOK_KIND = Buffer.from('"webhook"');

export async function startWebhookConsumer(deps: {
  rt: ServiceRuntime;
  sender: WebhookSender;
  now: () => Date;
}): Promise<void> {
  const { rt, sender, now } = deps;
  await rt.consume({
    groupId: `${rt.name}.webhooks`,
    topics: [ruleActionsTopic.name],
    concerns: (message) => message.value === null || message.value.includes(WEBHOOK_KIND),
    handle: async ({ envelope }, { trx, orgId }) => {
      const requested = envelope.data as ActionRequested;
      if (requested.action.kind !== 'webhook') return;
      const action = requested.action as WebhookAction;
      const secretRow = await trx('webhook_secrets')
        .where({ org_id: orgId, rule_id: requested.ruleId })
        .first('secret');
      const ref = {
        ruleId: requested.ruleId,
        ruleVersion: requested.ruleVersion,
        actionId: requested.actionId,
        kind: 'webhook' as const,
      };
      const result = secretRow
        ? await sender.deliver({
            id: requested.actionId,
            url: action.url,
            method: action.method,
            headers: action.headers,
            body: action.body,
            secret: secretRow.secret as string,
          })
        : ({ ok: false, reason: 'the rule has no webhook secret', retryable: false, attempts: 1 } as const);
      const outcome = result.ok
        ? {
            type: 'cmis.rules.action-succeeded',
            data: {
              ...ref,
              attempts: result.attempts,
              detail: { status: result.status, responseBytes: result.bytes, truncated: result.truncated },
            },
          }
        : {
            type: 'cmis.rules.action-failed',
            data: { ...ref, attempts: result.attempts, reason: result.reason, retryable: false },
          };
      await rt.eventStore.append(trx, {
        orgId,
        streamType: 'webhook-delivery',
        streamId: requested.actionId,
        expectedVersion: 'any',
        events: [
          {
            id: stableId(requested.actionId, 'outcome'),
            ...outcome,
            metadata: rt.eventMetadata({ correlationId: envelope.correlationId, causationId: envelope.id }),
            topic: ruleEventsTopic.name,
            key: `${orgId}:${envelope.subject}`,
            occurredAt: now(),
          },
        ],
      });
      void trx.executionPromise.then(
        () => rt.relay.wake(),
        () => undefined,
      );
    },
  });
}
