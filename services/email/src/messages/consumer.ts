// Email requests from other services (rules' notifications, workflow and drip steps), one at a
// time, each in the span of its event so the message's events continue the requester's trace.
import { emailRequestsTopic, type EmailRequested } from '@cmis/contracts';
import type { ServiceRuntime } from '@cmis/platform';
import type { HandleRequest } from './request';

export function startRequestConsumer(rt: ServiceRuntime, handleRequest: HandleRequest) {
  return rt.consume({
    groupId: `${rt.name}.requests`,
    topics: [emailRequestsTopic.name],
    async handle({ envelope }, { trx, orgId }) {
      await handleRequest(trx, orgId, envelope.data as EmailRequested, {
        correlationId: envelope.correlationId ?? envelope.id,
        causationId: envelope.id,
      });
    },
  });
}
