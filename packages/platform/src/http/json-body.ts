import { AsyncResource } from 'node:async_hooks';
import express, { type Request, type RequestHandler } from 'express';
import { isPlainJson } from './validate';

/**
 * A JSON request keeps the bytes it was parsed from: webhook senders sign those bytes
 * (SendGrid, Standard Webhooks), and re-serialising the parsed body would not reproduce them.
 */
export type RequestWithRawBody = Request & { rawBody?: Buffer };

/** The bytes a JSON body was parsed from, when it was. */
export const rawBodyOf = (req: Request): Buffer | undefined => (req as RequestWithRawBody).rawBody;

export interface JsonBodyOptions {
  /** Largest body accepted (bytes or a size such as '512kb'). */
  limit: string | number;
  /** Media types parsed (as for express.json). */
  type: string[];
}

// The one request shape read here (isPlainJson); anything else (a charset other than utf-8, another
// media type, Content-Encoding, chunked bodies, a body over the limit) goes to express.json.
const DECIMAL = /^\d{1,15}$/;
// body-parser's strict mode: after JSON whitespace, an object or an array.
const FIRST_CHAR = /^[ \t\n\r]*([^ \t\n\r])/;

/**
 * express.json (body-parser) with the common request read and parsed here: `application/json`
 * (utf-8), a Content-Length within the limit, no Content-Encoding. body-parser spends more on such
 * a request than parsing it does (media-type parsing, a streaming decoder, http-errors objects,
 * many closures); this path sets the same `req.body` and fails with errors of the same `type` and
 * status (see to-problem.ts), so answers do not change. Other requests are handed to express.json.
 */
export function jsonBody(options: JsonBodyOptions): RequestHandler {
  const general = express.json({
    limit: options.limit,
    type: options.type,
    verify: (req, _res, buffer) => {
      (req as RequestWithRawBody).rawBody = buffer;
    },
  });
  const limit = sizeInBytes(options.limit);
  return (req, res, next) => {
    const headers = req.headers;
    const length = headers['content-length'];
    const contentType = headers['content-type'];
    if (
      limit === undefined ||
      (req as { _body?: boolean })._body ||
      length === undefined ||
      contentType === undefined ||
      headers['transfer-encoding'] !== undefined ||
      headers['content-encoding'] !== undefined ||
      !DECIMAL.test(length) ||
      Number(length) > limit ||
      !isPlainJson(contentType)
    ) {
      general(req, res, next);
      return;
    }
    readJson(req, Number(length), next);
  };
}

function readJson(req: Request, expected: number, next: (error?: unknown) => void): void {
  (req as { _body?: boolean })._body = true;
  req.body = req.body || {};
  let chunks: Buffer[] = [];
  let received = 0;
  // Run the rest of the request in its own async context (trace, request-scoped storage), as
  // raw-body does: 'end' comes from the socket's read, not from the request's context.
  const resource = new AsyncResource('cmis.jsonBody');
  const finish = (error: unknown, body?: unknown) => {
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('aborted', onAborted);
    req.off('error', onError);
    chunks = [];
    resource.runInAsyncScope(() => {
      if (error !== undefined) return next(error);
      req.body = body;
      next();
    });
  };
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    chunks.push(chunk);
  };
  const onEnd = () => {
    if (received !== expected) {
      return finish(
        bodyError(400, 'request size did not match content length', 'request.size.invalid', {
          expected,
          length: expected,
          received,
        }),
      );
    }
    const buffer = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
    (req as RequestWithRawBody).rawBody = buffer;
    let text = buffer.toString('utf8');
    // iconv-lite, which body-parser decodes with, drops a byte order mark.
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    let body: unknown;
    try {
      body = parseStrict(text);
    } catch (error) {
      return finish(error);
    }
    finish(undefined, body);
  };
  const onAborted = () =>
    finish(
      bodyError(400, 'request aborted', 'request.aborted', {
        code: 'ECONNABORTED',
        expected,
        length: expected,
        received,
      }),
    );
  const onError = (error: Error) =>
    finish(Object.assign(error, { status: 400, statusCode: 400, expose: true }));
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('aborted', onAborted);
  req.on('error', onError);
}

/** body-parser's json parse: an empty body is `{}`, else an object or array in strict JSON. */
function parseStrict(text: string): unknown {
  if (text.length === 0) return {};
  const first = FIRST_CHAR.exec(text)?.[1];
  if (first !== '{' && first !== '[') {
    throw bodyError(400, `Unexpected token ${first ?? 'end of input'} in JSON`, 'entity.parse.failed', {
      body: text,
    });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw bodyError(400, (error as Error).message, 'entity.parse.failed', { body: text });
  }
}

/** An error shaped as body-parser's (http-errors): `type` and `status` are what the edge maps. */
function bodyError(status: number, message: string, type: string, fields: Record<string, unknown>): Error {
  return Object.assign(new Error(message), { status, statusCode: status, expose: true, type, ...fields });
}

const UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** A limit as bytes, as the `bytes` package reads it ('512kb'); undefined when not understood. */
export function sizeInBytes(limit: string | number): number | undefined {
  if (typeof limit === 'number') return Number.isFinite(limit) && limit >= 0 ? Math.floor(limit) : undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(limit);
  if (!match) return undefined;
  return Math.floor(Number(match[1]) * UNITS[(match[2] ?? 'b').toLowerCase()]!);
}
