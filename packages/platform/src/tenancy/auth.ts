import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { withSystem, type Database } from '../db';
import { ForbiddenError, UnauthorizedError } from '../http';
import { apiKeyFromHeaders, hashApiKey, keyIdOf, sameSecret } from './api-key';

export interface ApiKeyPrincipal {
  orgId: string;
  keyId: string;
  scopes: string[];
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by ApiKeyAuth.require: the org the request acts for. */
      principal?: ApiKeyPrincipal;
    }
  }
}

export interface ApiKeyAuthOptions {
  db: Database;
  /** How long a lookup is reused; bounds how late a revocation takes effect. */
  cacheTtlMs?: number;
  now?: () => number;
}

export interface ApiKeyAuth {
  authenticate(key: string | undefined): Promise<ApiKeyPrincipal>;
  /** Express middleware: 401 without a valid key, 403 without `scope` (when given). */
  require(scope?: string): RequestHandler;
}

/**
 * Checks request keys against the service's own tenancy projection. The lookup is by key id
 * across orgs (the key says which org it is for), so it is infrastructure and uses withSystem.
 */
export function createApiKeyAuth(options: ApiKeyAuthOptions): ApiKeyAuth {
  const ttl = options.cacheTtlMs ?? 1_000;
  const now = options.now ?? Date.now;
  type KeyRow = { org_id: string; hash: string; scopes: string[]; revoked_at: Date | null };
  const cache = new Map<string, { at: number; row?: KeyRow }>();

  const lookup = async (keyId: string) => {
    const hit = cache.get(keyId);
    if (hit && now() - hit.at < ttl) return hit.row;
    // A revoked_at still ahead is a revocation after a grace period: the key works until then.
    const row = (await withSystem(options.db.owner, (trx) =>
      trx('tenancy_api_keys').where({ key_id: keyId }).first('org_id', 'hash', 'scopes', 'revoked_at'),
    )) as KeyRow | undefined;
    if (cache.size > 10_000) cache.clear();
    cache.set(keyId, { at: now(), row });
    return row;
  };

  const authenticate = async (key: string | undefined): Promise<ApiKeyPrincipal> => {
    if (!key) throw new UnauthorizedError('An API key is required (Authorization: Bearer <key>)');
    const keyId = keyIdOf(key);
    const row = keyId ? await lookup(keyId) : undefined;
    const revoked = row?.revoked_at != null && new Date(row.revoked_at).getTime() <= now();
    if (!keyId || !row || revoked || !sameSecret(row.hash, hashApiKey(key))) {
      throw new UnauthorizedError('The API key is unknown or revoked');
    }
    return { orgId: row.org_id, keyId, scopes: row.scopes };
  };

  return {
    authenticate,
    require(scope) {
      return (req: Request, _res: Response, next: NextFunction) => {
        authenticate(apiKeyFromHeaders(req.headers))
          .then((principal) => {
            if (scope && !principal.scopes.includes(scope) && !principal.scopes.includes('*')) {
              throw new ForbiddenError(`The API key lacks the scope ${scope}`);
            }
            req.principal = principal;
            next();
          })
          .catch(next);
      };
    },
  };
}
