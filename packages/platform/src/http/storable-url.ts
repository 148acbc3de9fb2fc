import type { RequestHandler } from 'express';
import { findUnstorableText, isStorableText } from '../db/storable-text';
import { HttpProblem, problemType, ValidationError } from './problems';

/**
 * Refuses, before any route runs, a path or query that no handler can use: a path segment that
 * is not percent-encoded UTF-8 (`%zz`, the bytes of a lone surrogate), or a path segment or query
 * value holding U+0000 or a lone surrogate. Such text passes a `z.string()` and then fails at
 * Postgres (SQLSTATE 22021), which would answer 500 to the client's mistake.
 */
export function storableUrl(): RequestHandler {
  return (req, _res, next) => {
    const path = req.path;
    if (path.includes('%')) {
      for (const segment of path.split('/')) {
        let decoded: string;
        try {
          decoded = decodeURIComponent(segment);
        } catch {
          return next(malformedPath());
        }
        if (!isStorableText(decoded)) {
          return next(
            new ValidationError(
              [
                {
                  path: 'path',
                  message: 'holds a NUL character or a lone surrogate, which cannot be stored',
                },
              ],
              'The request path holds text that cannot be stored',
            ),
          );
        }
      }
    }
    const query = req.url.includes('?') ? findUnstorableText(req.query, 'query') : null;
    if (query === null) return next();
    next(
      new ValidationError(
        [{ path: query, message: 'holds a NUL character or a lone surrogate, which cannot be stored' }],
        'The request query holds text that cannot be stored',
      ),
    );
  };
}

/** A path segment decodeURIComponent refuses (express's router would throw a bare URIError). */
export const malformedPath = (): HttpProblem =>
  new HttpProblem(400, 'Malformed path', 'A path segment is not a valid percent-encoded UTF-8 string', {
    type: problemType('malformed-path'),
  });
