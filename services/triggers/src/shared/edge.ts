import { HttpProblem, problemType, requireJson, type ServiceRuntime } from '@cmis/platform';
import type { Request, RequestHandler, Response } from 'express';
import { createWriteKeyAuth, type WriteKeyPrincipal } from '../ingest/write-keys';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by the write-key edge: the source (and its org) that sent the call. */
      source?: WriteKeyPrincipal;
    }
  }
}

/** Bytes the client sent: Content-Length when present, else the parsed body re-encoded. */
export function requestBytes(req: Request): number {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > 0) return declared;
  return Buffer.byteLength(JSON.stringify(req.body ?? {}) ?? '', 'utf8');
}

/**
 * A 200 with a JSON body already serialized: what `res.json` sends, without its per-response
 * work (charset lookup, an ETag hashed from the body, which no client revalidates a POST with).
 */
export function sendJson(res: Response, json: string): void {
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(json));
  res.end(json);
}

export function tooLarge(limit: number): HttpProblem {
  return new HttpProblem(
    413,
    'Request body too large',
    `The request body exceeds the limit of ${limit} bytes`,
    {
      type: problemType('body-too-large'),
      errors: [{ path: 'body', message: `must be at most ${limit} bytes` }],
    },
  );
}

/**
 * The ingest edge shared by Segment calls and metrics: JSON only (415), a body within `maxBytes`
 * (413), a live write key (401). The rate limits (429) are spent by the handler, in the same Redis
 * round trip as the messageId claims (see ingest/publisher.ts).
 */
export function ingestEdge(rt: ServiceRuntime) {
  const json = requireJson();
  const auth = createWriteKeyAuth(rt);
  return (maxBytes: number): RequestHandler =>
    (req, res, next) => {
      json(req, res, (refused?: unknown) => {
        if (refused) return next(refused);
        if (requestBytes(req) > maxBytes) return next(tooLarge(maxBytes));
        auth.authenticate(req).then((principal) => {
          req.source = principal;
          next();
        }, next);
      });
    };
}
