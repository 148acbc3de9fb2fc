import { randomUUID } from 'node:crypto';
import { asyncHandler, HttpProblem, problemType, ValidationError, type ServiceRuntime } from '@cmis/platform';
import type { Router } from 'express';
import { BATCH_BYTES_LIMIT, EVENT_BYTES_LIMIT } from '../shared/fact';
import { sendJson, type ingestEdge } from '../shared/edge';
import { parseSegmentBatch } from './batch';
import type { FactPublisher } from './publisher';
import { CALL_TYPES, parseCall } from './segment';

type Edge = ReturnType<typeof ingestEdge>;

// The two answers to a single call, serialized once.
const PUBLISHED = JSON.stringify({ success: true, duplicate: false });
const DUPLICATE = JSON.stringify({ success: true, duplicate: true });

function batchSize(req: { body?: unknown }): number {
  const batch = (req.body as { batch?: unknown } | undefined)?.batch;
  return Array.isArray(batch) ? batch.length : 1;
}

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
    // Limits are counted in calls, valid or not.
    const events = batchSize(req);
    const parsed = parseSegmentBatch(req.body, {
      sourceId: sender.sourceId,
      receivedAt: new Date(),
      newMessageId: randomUUID,
    });
    if (!parsed.ok) {
      await publish.spend(sender, events);
      throw new ValidationError(parsed.errors, 'The batch is not valid');
    }
    const { accepted, rejected } = parsed.split;
    if (accepted.length === 0) {
      await publish.spend(sender, events);
      throw new HttpProblem(400, 'Invalid request', 'No call in the batch is valid', {
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
    sendJson(
      res,
      JSON.stringify({ success: true, accepted: accepted.length, duplicates: outcome.duplicates, rejected }),
    );
  });
  // /v1/import is Segment's name for the same endpoint (historical imports).
  router.post('/v1/batch', edge(BATCH_BYTES_LIMIT), batchHandler);
  router.post('/v1/import', edge(BATCH_BYTES_LIMIT), batchHandler);
}
