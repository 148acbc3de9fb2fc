import express, { Express } from 'express';
import type { Logger } from '../logging';
import { livenessHandler, ReadinessChecks, readinessHandler } from './health';
import { jsonBody } from './json-body';
import type { Metrics } from './metrics';
import { lazyRequestLoggers, observeRequests } from './observe-requests';
import { problemHandler, routeNotFound } from './problem-handler';
import { routePatternAccessors } from './route-pattern';
import { storableBody } from './storable-body';
import { storableUrl } from './storable-url';
import { JSON_MEDIA_TYPES } from './validate';

export interface HttpAppOptions {
  logger: Logger;
  metrics: Metrics;
  /** Largest JSON body accepted (bytes or a size such as '512kb'); larger ones get 413. */
  bodyLimit?: string | number;
  readiness?: ReadinessChecks;
  /** How long /readyz waits for the checks before answering 503. */
  readinessTimeoutMs?: number;
  /**
   * Registers the service's routes. They are mounted after the body parser and before the 404
   * and problem handlers, which is why routes come in here rather than being added to the result.
   */
  routes?: (app: Express) => void;
}

/**
 * An express app with the CMIS edge: request id, access log, metrics, JSON body parsing,
 * /healthz, /readyz, /metrics, and problem+json for every error.
 */
export function createHttpApp(options: HttpAppOptions): Express {
  const { logger, metrics } = options;
  const app = express();
  app.disable('x-powered-by');
  lazyRequestLoggers(app.request, logger);
  routePatternAccessors(app.request);

  app.use(observeRequests({ logger, metrics }));
  app.get('/healthz', livenessHandler());
  app.get(
    '/readyz',
    readinessHandler(options.readiness ?? (async () => ({})), options.readinessTimeoutMs ?? 2000),
  );
  app.get('/metrics', (_req, res, next) => {
    metrics.registry.metrics().then((text) => {
      res.type(metrics.registry.contentType).send(text);
    }, next);
  });

  app.use(storableUrl());
  app.use(jsonBody({ limit: options.bodyLimit ?? '512kb', type: JSON_MEDIA_TYPES }));
  app.use(storableBody());
  options.routes?.(app);

  app.use(routeNotFound());
  app.use(problemHandler({ logger }));
  return app;
}
