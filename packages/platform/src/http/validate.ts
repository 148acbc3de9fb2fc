import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import { FieldError, HttpProblem, problemType, ValidationError } from './problems';

/** The media types the JSON body parser reads and JSON routes accept. */
export const JSON_MEDIA_TYPES = ['application/json', 'application/*+json'];

// `application/json`, bare or with a utf-8 charset, in a form type-is (media-typer) also parses:
// no space before `;`, spaces (not tabs) around the parameter. What this accepts, type-is does.
const PLAIN_JSON = /^application\/json(?:; *charset *= *(?:utf-8|"utf-8") *)?$/i;

/** The common JSON Content-Type, recognised without type-is's parse (it runs on every request). */
export function isPlainJson(contentType: string | undefined): boolean {
  return contentType !== undefined && PLAIN_JSON.test(contentType);
}

export interface RequestSchemas<
  Body extends z.ZodTypeAny,
  Query extends z.ZodTypeAny,
  Params extends z.ZodTypeAny,
> {
  body?: Body;
  query?: Query;
  params?: Params;
}

type Parsed<Schema extends z.ZodTypeAny, Fallback> = z.ZodTypeAny extends Schema
  ? Fallback
  : z.output<Schema>;

/**
 * Validates and replaces req.body/query/params with the parsed values, or fails with a 400 whose
 * `errors` name each field (`body.steps.0.delayMs`). A body schema declares that the route wants
 * JSON, so a body of another media type is refused with 415 rather than reported as missing fields.
 */
export function validate<
  Body extends z.ZodTypeAny = z.ZodTypeAny,
  Query extends z.ZodTypeAny = z.ZodTypeAny,
  Params extends z.ZodTypeAny = z.ZodTypeAny,
>(
  schemas: RequestSchemas<Body, Query, Params>,
): RequestHandler<
  Parsed<Params, Request['params']>,
  unknown,
  Parsed<Body, unknown>,
  Parsed<Query, Request['query']>
> {
  const requireJsonBody = requireJson();
  return (req, res, next) => {
    if (schemas.body) {
      let refused: unknown;
      requireJsonBody(req as Request, res, (error?: unknown) => (refused = error));
      if (refused) return next(refused);
    }
    const errors: FieldError[] = [];
    const parsed: Partial<Record<'body' | 'query' | 'params', unknown>> = {};
    for (const part of ['params', 'query', 'body'] as const) {
      const schema = schemas[part];
      if (!schema) continue;
      const result = schema.safeParse(req[part]);
      if (result.success) parsed[part] = result.data;
      else errors.push(...fieldErrors(result.error, part));
    }
    if (errors.length > 0) return next(new ValidationError(errors));
    // Express 4 keeps these as plain writable properties.
    if ('params' in parsed) req.params = parsed.params as typeof req.params;
    if ('query' in parsed) req.query = parsed.query as typeof req.query;
    if ('body' in parsed) req.body = parsed.body as typeof req.body;
    next();
  };
}

/** Turns a ZodError into field errors under `prefix` (`body`, `query`, `params`). */
export function fieldErrors(error: z.ZodError, prefix?: string): FieldError[] {
  return error.issues.map((issue) => ({
    path: [...(prefix ? [prefix] : []), ...issue.path].join('.') || '(root)',
    message: issue.message,
  }));
}

/** Refuses (415) a request whose body is not JSON; a request without a body passes. */
export function requireJson(): RequestHandler {
  return (req: Request, _res: Response, next: NextFunction) => {
    if (!hasBody(req) || isPlainJson(req.headers['content-type']) || req.is(JSON_MEDIA_TYPES)) return next();
    next(
      new HttpProblem(415, 'Unsupported media type', 'This endpoint accepts application/json bodies only', {
        type: problemType('unsupported-media-type'),
        headers: { 'Accept-Post': 'application/json' },
      }),
    );
  };
}

function hasBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}
