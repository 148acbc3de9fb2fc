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
 * A key in use is looked up again in the background once its entry is half that old, so requests
 * do not wait for Postgres every `cacheTtlMs` (that wait was the ingest latency tail); a request
 * only waits when the entry is older than `cacheTtlMs`, and concurrent lookups of a key are shared.
 */
export function createWriteKeyAuth(rt: ServiceRuntime, options: { cacheTtlMs?: number } = {}) {
  const ttl = options.cacheTtlMs ?? 1_000;
  const cache = new Map<string, { at: number; row: Row | undefined }>();
  const pending = new Map<string, Promise<Row | undefined>>();

  // Keyed by the key as sent (it is in memory for the request anyway): a hit costs no sha256.
  const fetchRow = (key: string): Promise<Row | undefined> => {
    let lookup = pending.get(key);
    if (!lookup) {
      const startedAt = Date.now();
      const hash = hashWriteKey(key);
      lookup = withSystem(rt.db.owner, (trx) =>
        trx('source_write_keys').where({ hash }).first<Row | undefined>('org_id', 'source_id', 'revoked_at'),
      )
        .then((row) => {
          if (cache.size > 10_000) cache.clear();
          // Aged from when the lookup started: the row is at least that fresh.
          cache.set(key, { at: startedAt, row });
          return row;
        })
        .finally(() => pending.delete(key));
      pending.set(key, lookup);
    }
    return lookup;
  };

  const lookup = (key: string): Row | undefined | Promise<Row | undefined> => {
    const hit = cache.get(key);
    const age = hit ? Date.now() - hit.at : Infinity;
    if (hit && age < ttl) {
      if (age >= ttl / 2 && !pending.has(key)) {
        fetchRow(key).catch((error: unknown) =>
          rt.logger.warn({ err: error }, 'write key refresh failed; the next request retries'),
        );
      }
      return hit.row;
    }
    return fetchRow(key);
  };

  return {
    async authenticate(req: Request): Promise<WriteKeyPrincipal> {
      const key = writeKeyOf(req);
      if (!key) throw unauthorized('A source write key is required as the HTTP Basic username');
      const row = key.length <= 200 ? await lookup(key) : undefined;
      if (!row || (row.revoked_at !== null && row.revoked_at.getTime() <= Date.now())) {
        throw unauthorized('The write key is unknown or revoked');
      }
      return { orgId: row.org_id, sourceId: row.source_id };
    },
  };
}
