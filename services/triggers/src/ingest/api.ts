import { randomUUID } from 'node:crypto';
import { asyncHandler, ValidationError, type ServiceRuntime } from '@cmis/platform';
import type { Router } from 'express';
import { BATCH_BYTES_LIMIT, EVENT_BYTES_LIMIT } from '../shared/fact';
import { sendJson, type ingestEdge } from '../shared/edge';
import { parseSegmentBatch } from './batch';
import { publishJudged, type FactPublisher } from './publisher';
import { itemCount } from '../shared/batch';
import { CALL_TYPES, parseCall } from './segment';

type Edge = ReturnType<typeof ingestEdge>;

// The two answers to a single call, serialized once.
const PUBLISHED = JSON.stringify({ success: true, duplicate: false });
const DUPLICATE = JSON.stringify({ success: true, duplicate: true });

export function ingestRoutes(rt: ServiceRuntime, router: Router, edge: Edge, publish: FactPublisher): void {
  for (const callType of CALL_TYPES) {
    router.post(
      `/v1/${callType}`,
      edge(EVENT_BYTES_LIMIT),
      asyncHandler(async (req, res) => {
        const sender = req.source!;
        const parsed = parseCall(callType, req.body, {
          sourceId: sender.sourceId,
          receivedAt: new Date(),
          newMessageId: randomUUID,
        });
        if (!parsed.ok) {
          await publish.spend(sender, 1);
          throw new ValidationError(parsed.errors, `The ${callType} call is not valid`);
        }
        const outcome = await publish.publish(sender, [parsed.value], 1);
        sendJson(res, outcome.duplicates > 0 ? DUPLICATE : PUBLISHED);
      }),
    );
  }

  const batchHandler = asyncHandler(async (req, res) => {
    const sender = req.source!;
    const parsed = parseSegmentBatch(req.body, {
      sourceId: sender.sourceId,
      receivedAt: new Date(),
      newMessageId: randomUUID,
    });
    // Limits are counted in calls, valid or not.
    const counts = await publishJudged(publish, sender, itemCount(req.body), parsed, {
      request: 'batch is',
      item: 'call',
    });
    sendJson(res, JSON.stringify({ success: true, ...counts }));
  });
  // /v1/import is Segment's name for the same endpoint (historical imports).
  router.post('/v1/batch', edge(BATCH_BYTES_LIMIT), batchHandler);
  router.post('/v1/import', edge(BATCH_BYTES_LIMIT), batchHandler);
}
