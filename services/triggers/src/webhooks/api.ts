import {
  asyncHandler,
  HttpProblem,
  problemType,
  rawBodyOf,
  requireJson,
  ValidationError,
  type ServiceRuntime,
} from '@cmis/platform';
import type { Request, Router } from 'express';
import type { FactPublisher } from '../ingest/publisher';
import { findWebhookSource } from '../sources/store';
import { applyMapping } from './mapping';
import { verifyWebhook } from './signature';

/** The bytes the sender signed: the raw body the platform's JSON parser kept. */
function signedBody(req: Request): string {
  const raw = rawBodyOf(req);
  return raw ? raw.toString('utf8') : JSON.stringify(req.body);
}

const header = (req: Request, name: string) => {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(' ') : value;
};

export function webhookRoutes(rt: ServiceRuntime, router: Router, publish: FactPublisher) {
  router.post(
    '/v1/webhooks/:sourceId',
    requireJson(),
    asyncHandler(async (req, res) => {
      const now = new Date();
      const sourceId = req.params.sourceId!;
      const source = sourceId.length <= 100 ? await findWebhookSource(rt, sourceId, now) : undefined;
      if (!source) {
        throw new HttpProblem(404, 'Not found', `No source ${sourceId}`, {
          type: problemType('not-found'),
          errors: [{ path: 'params.sourceId', message: 'names no source' }],
        });
      }
      const verified = verifyWebhook(
        {
          'webhook-id': header(req, 'webhook-id'),
          'webhook-timestamp': header(req, 'webhook-timestamp'),
          'webhook-signature': header(req, 'webhook-signature'),
        },
        signedBody(req),
        source.secrets,
        now,
      );
      if (!verified.ok) {
        const missing = verified.reason.startsWith('is required') || verified.reason.startsWith('must be');
        throw new HttpProblem(
          missing ? 400 : 401,
          missing ? 'Invalid request' : 'Unauthorized',
          `${verified.header} ${verified.reason}`,
          {
            type: problemType(missing ? 'validation' : 'bad-signature'),
            errors: [{ path: `headers.${verified.header}`, message: verified.reason }],
          },
        );
      }
      const sender = { orgId: source.orgId, sourceId };
      const mapped = applyMapping(source.mapping, req.body, {
        sourceId,
        webhookId: verified.id,
        sentAt: verified.timestamp,
        receivedAt: now,
      });
      if (!mapped.ok) {
        await publish.spend(sender, 1);
        throw new ValidationError(mapped.errors, 'The payload does not fit the source mapping');
      }
      const outcome = await publish.publish(sender, [mapped.value], 1);
      if (outcome.duplicates > 0) {
        throw new HttpProblem(409, 'Conflict', `Webhook ${verified.id} was already received`, {
          type: problemType('replay'),
          errors: [{ path: 'headers.webhook-id', message: 'was already received from this source' }],
        });
      }
      res.json({ success: true });
    }),
  );
}
