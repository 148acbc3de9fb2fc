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

/**
 * Gives every request of `app` a `log`: the child logger is made the first time a request logs
 * (most requests never do below info), then kept on the request.
 */
export function lazyRequestLoggers(requestPrototype: object, logger: Logger): void {
  Object.defineProperty(requestPrototype, 'log', {
    configurable: true,
    get(this: Request) {
      const log = logger.child({ request_id: this.id });
      Object.defineProperty(this, 'log', {
        value: log,
        writable: true,
        configurable: true,
        enumerable: true,
      });
      return log;
    },
    set(this: Request, log: Logger) {
      Object.defineProperty(this, 'log', {
        value: log,
        writable: true,
        configurable: true,
        enumerable: true,
      });
    },
  });
}

/** Request id, access log line and HTTP metrics, for every request (`req.log`: lazyRequestLoggers). */
export function observeRequests(deps: { logger: Logger; metrics: Metrics }): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const startedAt = process.hrtime.bigint();
    const incoming = req.headers['x-request-id'];
    req.id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', req.id);
    const routePattern = trackRoutePattern(req);

    // 'close' follows 'finish' for a response sent in full, and comes alone for an aborted one.
    res.once('close', () => {
      const aborted = !res.writableFinished;
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
      if (!deps.logger.isLevelEnabled(level)) return;
      req.log[level](
        {
          method: req.method,
          path,
          route: labels.route,
          status: Number(labels.status),
          duration_ms: Math.round(seconds * 1e6) / 1e3,
          request_bytes: Number(req.headers['content-length'] ?? 0),
          ...(aborted ? { aborted: true } : {}),
        },
        'request',
      );
    });
    next();
  };
}
