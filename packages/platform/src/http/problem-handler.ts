import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from '../logging';
import { HttpProblem, problemType } from './problems';
import { toProblem } from './to-problem';

/** Terminal 404 for any request no route answered. */
export function routeNotFound(): RequestHandler {
  return (req, _res, next) => {
    next(
      new HttpProblem(404, 'Not found', `No route for ${req.method} ${req.path}`, {
        type: problemType('route-not-found'),
      }),
    );
  };
}

/** Every error, expected or not, leaves as problem+json; stacks go to the log only. */
export function problemHandler(deps: { logger: Logger }): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    const log = req.log ?? deps.logger;
    const problem = toProblem(error, { instance: req.originalUrl.split('?')[0] ?? '/', requestId: req.id });
    if (res.headersSent) {
      // Part of a response is out; the only honest signal left is to cut the connection.
      log.error({ err: error }, 'error after the response started; closing the connection');
      req.socket.destroy();
      return;
    }
    // Expected problems are the client's or a probe's business; the access line records them.
    if (!problem.expected) log.error({ err: error }, 'unexpected error while handling a request');
    res.status(problem.status).set(problem.headers).type('application/problem+json').json(problem.body);
  };
}
