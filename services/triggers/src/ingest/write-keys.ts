import { HttpProblem, problemType, withSystem, type ServiceRuntime } from '@cmis/platform';
import type { Request } from 'express';
import { hashWriteKey } from '../sources/credentials';

export interface WriteKeyPrincipal {
  orgId: string;
  sourceId: string;
}

type Row = { org_id: string; source_id: string; revoked_at: Date | null };

/** Segment sends the write key as the HTTP Basic username; batch bodies may carry `writeKey`. */
export function writeKeyOf(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (header?.startsWith('Basic ')) {
    const decoded = Buffer.from(header.slice('Basic '.length).trim(), 'base64').toString('utf8');
    const user = decoded.split(':')[0];
    if (user) return user;
  }
  const inBody = (req.body as { writeKey?: unknown } | undefined)?.writeKey;
  return typeof inBody === 'string' && inBody.length > 0 ? inBody : undefined;
}

function unauthorized(detail: string): HttpProblem {
  return new HttpProblem(401, 'Unauthorized', detail, {
    type: problemType('unauthorized'),
    headers: { 'WWW-Authenticate': 'Basic realm="cmis-ingest"' },
    errors: [{ path: 'headers.authorization', message: detail }],
  });
}

/**
 * Resolves write keys against the sources projection. Lookups are cached for `cacheTtlMs`, which
 * bounds how late a revocation takes effect on a replica (the same trade-off as API-key auth).
 */
export function createWriteKeyAuth(rt: ServiceRuntime, options: { cacheTtlMs?: number } = {}) {
  const ttl = options.cacheTtlMs ?? 1_000;
  const cache = new Map<string, { at: number; row: Row | undefined }>();

  const lookup = async (hash: string): Promise<Row | undefined> => {
    const hit = cache.get(hash);
    if (hit && Date.now() - hit.at < ttl) return hit.row;
    const row = await withSystem(rt.db.owner, (trx) =>
      trx('source_write_keys').where({ hash }).first<Row | undefined>('org_id', 'source_id', 'revoked_at'),
    );
    if (cache.size > 10_000) cache.clear();
    cache.set(hash, { at: Date.now(), row });
    return row;
  };

  return {
    async authenticate(req: Request): Promise<WriteKeyPrincipal> {
      const key = writeKeyOf(req);
      if (!key) throw unauthorized('A source write key is required as the HTTP Basic username');
      const row = key.length <= 200 ? await lookup(hashWriteKey(key)) : undefined;
      if (!row || (row.revoked_at !== null && row.revoked_at.getTime() <= Date.now())) {
        throw unauthorized('The write key is unknown or revoked');
      }
      return { orgId: row.org_id, sourceId: row.source_id };
    },
  };
}
