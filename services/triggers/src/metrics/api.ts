import { randomUUID } from 'node:crypto';
import { asyncHandler, type ServiceRuntime } from '@cmis/platform';
import type { Router } from 'express';
import { publishJudged, type FactPublisher } from '../ingest/publisher';
import { itemCount } from '../shared/batch';
import type { ingestEdge } from '../shared/edge';
import { BATCH_BYTES_LIMIT } from '../shared/fact';
import { parseMetricsBody } from './metrics';

export function metricsRoutes(
  _rt: ServiceRuntime,
  router: Router,
  edge: ReturnType<typeof ingestEdge>,
  publish: FactPublisher,
) {
  router.post(
    '/v1/metrics',
    edge(BATCH_BYTES_LIMIT),
    asyncHandler(async (req, res) => {
      const parsed = parseMetricsBody(req.body, { receivedAt: new Date(), newMessageId: randomUUID });
      const counts = await publishJudged(publish, req.source!, itemCount(req.body), parsed, {
        request: 'metrics are',
        item: 'snapshot',
      });
      res.json({ success: true, ...counts });
    }),
  );
}
