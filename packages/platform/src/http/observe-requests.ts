import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from '../logging';
import type { Metrics } from './metrics';
import { trackRoutePattern } from './route-pattern';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The request id: the caller's X-Request-Id when well-formed, else a fresh UUID. */
      id: string;
      /** A child logger that stamps request_id on every line. */
      log: Logger;
    }
  }
}

/** Label for requests that never reached a route: unknown paths and bodies refused before routing. */
export const UNROUTED = 'unrouted';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
// Probes and scrapes would drown the access log at info.
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);
// nginx's convention for "client closed the connection before the response was sent".
const CLIENT_CLOSED = 499;

/** Request id, per-request logger, access log line and HTTP metrics, for every request. */
export function observeRequests(deps: { logger: Logger; metrics: Metrics }): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const startedAt = process.hrtime.bigint();
    const incoming = req.get('x-request-id');
    req.id = incoming !== undefined && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    req.log = deps.logger.child({ request_id: req.id });
    res.setHeader('X-Request-Id', req.id);
    const routePattern = trackRoutePattern(req);

    let recorded = false;
    const record = (aborted: boolean) => {
      if (recorded) return;
      recorded = true;
      const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
      const labels = {
        method: req.method,
        route: routePattern() ?? UNROUTED,
        status: String(aborted ? CLIENT_CLOSED : res.statusCode),
      };
      deps.metrics.httpRequestsTotal.inc(labels);
      deps.metrics.httpRequestDurationSeconds.observe(labels, seconds);

      const path = req.originalUrl.split('?')[0] ?? req.originalUrl; // queries can carry tokens
      // A failing probe is expected while starting or draining; unexpected errors are logged where thrown.
      const level = QUIET_PATHS.has(path) ? 'debug' : res.statusCode >= 500 ? 'error' : 'info';
      req.log[level](
        {
          method: req.method,
          path,
          route: labels.route,
          status: Number(labels.status),
          duration_ms: Math.round(seconds * 1e6) / 1e3,
          request_bytes: Number(req.get('content-length') ?? 0),
          ...(aborted ? { aborted: true } : {}),
        },
        'request',
      );
    };
    res.once('finish', () => record(false));
    res.once('close', () => record(!res.writableFinished));
    next();
  };
}
