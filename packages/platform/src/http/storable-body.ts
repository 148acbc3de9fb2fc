import type { RequestHandler } from 'express';
import { findUnstorableText } from '../db/storable-text';
import { ValidationError } from './problems';

/**
 * Refuses a JSON body holding a string Postgres cannot store (U+0000, a lone surrogate): such a
 * body would pass every schema, then fail at the table or topic write forever after (a 503 the
 * client retries without end, a poison message on the bus). A 400 naming the field is the answer.
 */
export function storableBody(): RequestHandler {
  return (req, _res, next) => {
    const body: unknown = req.body;
    const path = typeof body === 'object' && body !== null ? findUnstorableText(body, 'body') : null;
    if (path === null) return next();
    next(
      new ValidationError(
        [{ path, message: 'holds a NUL character or a lone surrogate, which cannot be stored' }],
        'The request body holds text that cannot be stored',
      ),
    );
  };
}
