/**
 * Errors that reach a client. Domain code throws `DomainError`s, which say what went wrong in
 * the domain's words and know nothing of HTTP; the problem handler maps them once, at the edge,
 * to RFC 9457 problem+json. `HttpProblem` is for the edge itself (unknown route, bad body, not ready).
 */

export interface FieldError {
  /** Dotted path from the request part, e.g. `body.steps.0.delayMs`, `query.limit`. */
  path: string;
  message: string;
}

/** An RFC 9457 problem details document as CMIS sends it. */
export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  request_id?: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

/** Problem types are URNs: stable names clients can switch on, not pages that must resolve. */
export const problemType = (slug: string): string => `urn:cmis:problem:${slug}`;

export interface HttpProblemOptions {
  type?: string;
  headers?: Record<string, string>;
  /** Extra members of the problem document (RFC 9457 extensions). */
  extensions?: Record<string, unknown>;
  errors?: FieldError[];
  cause?: unknown;
}

export class HttpProblem extends Error {
  override readonly name: string = 'HttpProblem';
  readonly type: string;
  readonly headers: Record<string, string>;
  readonly extensions: Record<string, unknown>;
  readonly errors: FieldError[] | undefined;

  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    options: HttpProblemOptions = {},
  ) {
    super(detail, { cause: options.cause });
    this.type = options.type ?? 'about:blank';
    this.headers = options.headers ?? {};
    this.extensions = options.extensions ?? {};
    this.errors = options.errors;
  }
}

export type DomainErrorKind =
  | 'validation'
  | 'not-found'
  | 'conflict'
  | 'unauthorized'
  | 'forbidden'
  | 'too-many-requests'
  | 'unprocessable';

export abstract class DomainError extends Error {
  abstract readonly kind: DomainErrorKind;
  /** Extra, client-safe facts about the error (e.g. the current version on a conflict). */
  readonly extensions: Record<string, unknown>;

  constructor(detail: string, extensions: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(detail, options);
    this.extensions = extensions;
  }
}

/** Input that breaks its schema; `errors` name each field at fault. */
export class ValidationError extends DomainError {
  override readonly name = 'ValidationError';
  readonly kind = 'validation' as const;

  constructor(
    readonly errors: FieldError[],
    detail = 'The request is not valid',
  ) {
    super(detail);
  }
}

export class NotFoundError extends DomainError {
  override readonly name = 'NotFoundError';
  readonly kind = 'not-found' as const;
}

/** The request conflicts with current state: a duplicate, a stale expected version. */
export class ConflictError extends DomainError {
  override readonly name = 'ConflictError';
  readonly kind = 'conflict' as const;
}

/** No valid credentials. `challenge` becomes the WWW-Authenticate header (RFC 9110 requires one). */
export class UnauthorizedError extends DomainError {
  override readonly name = 'UnauthorizedError';
  readonly kind = 'unauthorized' as const;

  constructor(
    detail = 'Valid credentials are required',
    readonly challenge = 'Bearer',
  ) {
    super(detail);
  }
}

/** Valid credentials that may not do this (wrong org, missing scope). */
export class ForbiddenError extends DomainError {
  override readonly name = 'ForbiddenError';
  readonly kind = 'forbidden' as const;
}

export class TooManyRequestsError extends DomainError {
  override readonly name = 'TooManyRequestsError';
  readonly kind = 'too-many-requests' as const;

  constructor(
    detail: string,
    readonly retryAfterMs: number,
  ) {
    super(detail);
  }
}

/** Well-formed input the domain refuses (e.g. a drip step after the drip ended). */
export class UnprocessableEntityError extends DomainError {
  override readonly name = 'UnprocessableEntityError';
  readonly kind = 'unprocessable' as const;
}
