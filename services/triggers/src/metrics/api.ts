import { randomUUID } from 'node:crypto';
import { asyncHandler, HttpProblem, problemType, ValidationError, type ServiceRuntime } from '@cmis/platform';
import type { Router } from 'express';
import type { FactPublisher } from '../ingest/publisher';
import type { ingestEdge } from '../shared/edge';
import { BATCH_BYTES_LIMIT } from '../shared/fact';
import { parseMetricsBody } from './metrics';

export function metricsRoutes(
  _rt: ServiceRuntime,
  router: Router,
  edge: ReturnType<typeof ingestEdge>,
  publish: FactPublisher,
) {
  const snapshots = (req: { body?: unknown }) => {
    const batch = (req.body as { batch?: unknown } | undefined)?.batch;
    return Array.isArray(batch) ? batch.length : 1;
  };
  router.post(
    '/v1/metrics',
    edge(BATCH_BYTES_LIMIT),
    asyncHandler(async (req, res) => {
      const sender = req.source!;
      const events = snapshots(req);
      const parsed = parseMetricsBody(req.body, { receivedAt: new Date(), newMessageId: randomUUID });
      if (!parsed.ok) {
        await publish.spend(sender, events);
        throw new ValidationError(parsed.errors, 'The metrics are not valid');
      }
      const { accepted, rejected } = parsed.split;
      if (accepted.length === 0) {
        await publish.spend(sender, events);
        throw new HttpProblem(400, 'Invalid request', 'No snapshot in the batch is valid', {
          type: problemType('validation'),
          errors: rejected.flatMap((r) => r.errors),
          extensions: { accepted: 0, duplicates: 0, rejected },
        });
      }
      const outcome = await publish.publish(
        sender,
        accepted.map((a) => a.value),
        events,
      );
      res.json({ success: true, accepted: accepted.length, duplicates: outcome.duplicates, rejected });
    }),
  );
}
