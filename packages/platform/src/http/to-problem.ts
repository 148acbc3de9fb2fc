import { STATUS_CODES } from 'node:http';
import { DomainError, DomainErrorKind, HttpProblem, ProblemDocument, problemType } from './problems';
import { isPgDataError } from '../db/pg-errors';

// SQLSTATE class 53 (insufficient resources: too many connections, out of memory or disk) and
// 57P03 (cannot connect now): the store is out of capacity for a moment, not broken.
const isPgCapacityError = (error: unknown): error is Error & { code: string } => {
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && (code.startsWith('53') || code === '57P03');
};
import { malformedPath } from './storable-url';

export interface ProblemResponse {
  status: number;
  headers: Record<string, string>;
  body: ProblemDocument;
  /** False for a 500 from an error nobody anticipated: log it with its stack. */
  expected: boolean;
}

const DOMAIN_STATUS: Record<DomainErrorKind, { status: number; title: string }> = {
  validation: { status: 400, title: 'Invalid request' },
  'not-found': { status: 404, title: 'Not found' },
  conflict: { status: 409, title: 'Conflict' },
  unauthorized: { status: 401, title: 'Unauthorized' },
  forbidden: { status: 403, title: 'Forbidden' },
  'too-many-requests': { status: 429, title: 'Too many requests' },
  unprocessable: { status: 422, title: 'Unprocessable entity' },
};

/** The one place where an error becomes a status and a problem document. */
export function toProblem(
  error: unknown,
  context: { instance: string; requestId?: string },
): ProblemResponse {
  const problem = asHttpProblem(error);
  if (!problem) {
    return {
      status: 500,
      headers: {},
      expected: false,
      body: {
        type: problemType('internal'),
        title: 'Internal server error',
        status: 500,
        detail: 'An unexpected error occurred; quote the request_id when reporting it',
        instance: context.instance,
        ...(context.requestId ? { request_id: context.requestId } : {}),
      },
    };
  }
  return {
    status: problem.status,
    headers: problem.headers,
    expected: true,
    body: {
      ...problem.extensions,
      type: problem.type,
      title: problem.title,
      status: problem.status,
      detail: problem.detail,
      instance: context.instance,
      ...(context.requestId ? { request_id: context.requestId } : {}),
      ...(problem.errors ? { errors: problem.errors } : {}),
    },
  };
}

function asHttpProblem(error: unknown): HttpProblem | undefined {
  if (error instanceof HttpProblem) return error;
  if (error instanceof DomainError) return fromDomainError(error);
  if (isUndecodablePathError(error)) return malformedPath();
  if (isPgDataError(error)) {
    // Postgres refused a value the request carried (a number out of its column's range, a
    // malformed literal): routes bound what they can, this is the net under what they miss.
    return new HttpProblem(
      400,
      'Invalid value',
      `A value of the request is outside what the store accepts (SQLSTATE ${error.code})`,
      { type: problemType('invalid-value') },
    );
  }
  if (isPgCapacityError(error)) {
    return new HttpProblem(503, 'Service unavailable', 'The store is at capacity; retry shortly', {
      type: problemType('store-unavailable'),
      headers: { 'Retry-After': '1' },
    });
  }
  return fromBodyParserError(error);
}

/**
 * Express's router decodes each path parameter with decodeURIComponent and, when that fails
 * (`%zz`, a lone `%`, the bytes of a lone surrogate), throws the URIError with status 400 but
 * without http-errors' `expose`: the client's malformed path, not a fault of the service.
 */
function isUndecodablePathError(error: unknown): boolean {
  return error instanceof URIError && (error as { status?: unknown }).status === 400;
}

function fromDomainError(error: DomainError): HttpProblem {
  const { status, title } = DOMAIN_STATUS[error.kind];
  const headers: Record<string, string> = {};
  let errors;
  switch (error.kind) {
    case 'too-many-requests':
      if ('retryAfterMs' in error && typeof error.retryAfterMs === 'number') {
        headers['Retry-After'] = String(Math.max(1, Math.ceil(error.retryAfterMs / 1000)));
      }
      break;
    case 'unauthorized':
      headers['WWW-Authenticate'] =
        'challenge' in error && typeof error.challenge === 'string' ? error.challenge : 'Bearer';
      break;
    case 'validation':
      errors = 'errors' in error && Array.isArray(error.errors) ? error.errors : [];
      break;
    case 'not-found':
    case 'conflict':
    case 'forbidden':
    case 'unprocessable':
      break;
    default: {
      const unhandled: never = error.kind;
      throw new Error(`unmapped domain error kind ${String(unhandled)}`);
    }
  }
  return new HttpProblem(status, title, error.message, {
    type: problemType(error.kind),
    headers,
    extensions: error.extensions,
    errors,
  });
}

/** body-parser (express.json) errors carry a `type` such as `entity.too.large`. */
function fromBodyParserError(error: unknown): HttpProblem | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { type, status, limit } = error as { type?: unknown; status?: unknown; limit?: unknown };
  switch (type) {
    case 'entity.parse.failed':
      return new HttpProblem(400, 'Malformed JSON', 'The request body is not valid JSON', {
        type: problemType('malformed-json'),
      });
    case 'entity.too.large':
      return new HttpProblem(
        413,
        'Request body too large',
        typeof limit === 'number'
          ? `The request body exceeds the limit of ${limit} bytes`
          : 'The request body exceeds the limit',
        { type: problemType('body-too-large') },
      );
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new HttpProblem(
        415,
        'Unsupported media type',
        'The request body encoding or charset is not supported',
        {
          type: problemType('unsupported-media-type'),
        },
      );
    case 'request.aborted':
    case 'request.size.invalid':
      return new HttpProblem(400, 'Bad request', 'The request body was incomplete', {
        type: problemType('incomplete-body'),
      });
    default:
      // Other http-errors style 4xx that chose to expose their message (e.g. from express itself).
      if (
        typeof status === 'number' &&
        status >= 400 &&
        status < 500 &&
        (error as { expose?: unknown }).expose === true &&
        error instanceof Error
      ) {
        return new HttpProblem(status, STATUS_CODES[status] ?? 'Bad request', error.message);
      }
      return undefined;
  }
}
