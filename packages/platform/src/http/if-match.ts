import type { Request } from 'express';

/** The version an `If-Match: <n>` (or `"<n>"`) header asks an edit to apply to; undefined without one. */
export function ifMatchVersion(req: Request): number | undefined {
  const ifMatch = req.headers['if-match'];
  return typeof ifMatch === 'string' && /^"?\d+"?$/.test(ifMatch)
    ? Number(ifMatch.replace(/"/g, ''))
    : undefined;
}
