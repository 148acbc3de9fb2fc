export { createHttpApp } from './app';
export type { HttpAppOptions } from './app';
export { startHttpServer } from './server';
export type { RunningHttpServer } from './server';
export { createMetrics } from './metrics';
// For a service's own metrics, registered on its runtime's registry (rt.metrics.registry).
export { Counter, Gauge } from 'prom-client';
export type { Metrics, MetricsOptions, HttpLabel } from './metrics';
export { validate, requireJson, fieldErrors, JSON_MEDIA_TYPES } from './validate';
export type { RequestSchemas } from './validate';
export { asyncHandler } from './async-handler';
export { rawBodyOf } from './json-body';
export type { RequestWithRawBody } from './json-body';
export type { ReadinessChecks } from './health';
export { toProblem } from './to-problem';
export type { ProblemResponse } from './to-problem';
export { UNROUTED } from './observe-requests';
export {
  HttpProblem,
  DomainError,
  ValidationError,
  NotFoundError,
  ConflictError,
  UnauthorizedError,
  ForbiddenError,
  TooManyRequestsError,
  UnprocessableEntityError,
  problemType,
} from './problems';
export type { DomainErrorKind, FieldError, ProblemDocument, HttpProblemOptions } from './problems';
export { servedRoutes, undocumentedRoutes, type ServedRoute } from './openapi';
export { ifMatchVersion } from './if-match';
