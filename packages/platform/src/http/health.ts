import type { RequestHandler } from 'express';
import { HttpProblem, problemType } from './problems';

/**
 * Each named check reports `true` (or `'ok'`) when it passes; `false` or any other string fails,
 * the string saying why (e.g. `'connection refused'`).
 */
export type ReadinessChecks = () => Promise<Record<string, boolean | string>>;

const passes = (result: boolean | string) => result === true || result === 'ok';

/** `/healthz`: the process is alive and its event loop turns; says nothing of dependencies. */
export function livenessHandler(): RequestHandler {
  return (_req, res) => {
    res.json({ status: 'ok' });
  };
}

/** `/readyz`: 200 when every check passes, else 503 naming the failing checks. */
export function readinessHandler(readiness: ReadinessChecks, timeoutMs: number): RequestHandler {
  return (_req, res, next) => {
    withTimeout(readiness(), timeoutMs).then(
      (checks) => {
        const failing = Object.entries(checks).filter(([, result]) => !passes(result));
        if (failing.length === 0) {
          res.json({ status: 'ready', checks });
          return;
        }
        const reasons = failing.map(([name, result]) =>
          typeof result === 'string' ? `${name} (${result})` : name,
        );
        next(
          new HttpProblem(503, 'Not ready', `Failing readiness checks: ${reasons.join(', ')}`, {
            type: problemType('not-ready'),
            extensions: { checks, failing: failing.map(([name]) => name) },
          }),
        );
      },
      (error: unknown) => {
        const timedOut = error instanceof ReadinessTimeout;
        next(
          new HttpProblem(
            503,
            'Not ready',
            timedOut
              ? `Readiness checks did not answer within ${timeoutMs} ms`
              : 'Readiness checks failed to run',
            { type: problemType('not-ready'), extensions: { failing: [] }, cause: error },
          ),
        );
      },
    );
  };
}

class ReadinessTimeout extends Error {}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new ReadinessTimeout()), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
