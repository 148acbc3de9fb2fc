// Dashboard sessions: a browser logs in once with the org's API key and then carries an opaque,
// random session token in an HttpOnly cookie. Only the token's sha256 is stored, with the key it
// came from, so revoking that key ends its sessions at the next request.
import { createHash, randomBytes } from 'node:crypto';
import { tenantTable, withOrg, withSystem, type Database, type Migration } from '@cmis/platform';

export const SESSION_COOKIE = 'cmis_dashboard';
export const SESSION_TTL_MS = 8 * 60 * 60 * 1000;

export interface DashboardSession {
  orgId: string;
  keyId: string;
  /** The key's scopes now (not when the session began). */
  scopes: string[];
}

export const sessionMigrations: Migration[] = [
  {
    name: 'analytics_dashboard_0001_sessions',
    async up(knex) {
      await tenantTable(knex, 'dashboard_sessions', (t) => {
        t.text('token_hash').primary();
        t.text('key_id').notNullable();
        t.timestamp('created_at', { useTz: true }).notNullable();
        t.timestamp('expires_at', { useTz: true }).notNullable();
        t.index(['org_id', 'expires_at']);
      });
    },
  },
];

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** The session token out of a Cookie header, if there is one that looks like ours. */
export function sessionTokenFrom(cookieHeader: string | undefined): string | undefined {
  for (const part of (cookieHeader ?? '').split(';')) {
    const [name, ...rest] = part.trim().split('=');
    const value = rest.join('=');
    if (name === SESSION_COOKIE && /^[A-Za-z0-9_-]{43}$/.test(value)) return value;
  }
  return undefined;
}

export function sessionCookie(token: string, options: { path: string; secure: boolean }): string {
  const attrs = [
    `${SESSION_COOKIE}=${token}`,
    `Path=${options.path}`,
    `Max-Age=${SESSION_TTL_MS / 1000}`,
    'HttpOnly',
    'SameSite=Strict',
  ];
  if (options.secure) attrs.push('Secure');
  return attrs.join('; ');
}

export function clearedSessionCookie(options: { path: string; secure: boolean }): string {
  return `${SESSION_COOKIE}=; Path=${options.path}; Max-Age=0; HttpOnly; SameSite=Strict${options.secure ? '; Secure' : ''}`;
}

export interface SessionStore {
  create(principal: { orgId: string; keyId: string }): Promise<string>;
  /** The session of a token: undefined when unknown, expired, or its key was revoked. */
  find(token: string): Promise<DashboardSession | undefined>;
  end(token: string): Promise<void>;
}

export function createSessionStore(db: Database, now: () => Date): SessionStore {
  return {
    async create({ orgId, keyId }) {
      const token = randomBytes(32).toString('base64url');
      const at = now();
      await withOrg(db.app, orgId, async (trx) => {
        // Expired sessions of the org go as new ones come; nothing else needs them.
        await trx('dashboard_sessions').where('expires_at', '<=', at).delete();
        await trx('dashboard_sessions').insert({
          org_id: orgId,
          token_hash: hashToken(token),
          key_id: keyId,
          created_at: at,
          expires_at: new Date(at.getTime() + SESSION_TTL_MS),
        });
      });
      return token;
    },
    // The token names the org (like an API key's id does), so the lookup is across orgs.
    async find(token) {
      const row = await withSystem(db.owner, (trx) =>
        trx('dashboard_sessions as s')
          .join('tenancy_api_keys as k', function () {
            this.on('k.key_id', '=', 's.key_id').andOn('k.org_id', '=', 's.org_id');
          })
          .where('s.token_hash', hashToken(token))
          .where('s.expires_at', '>', now())
          .whereNull('k.revoked_at')
          .first('s.org_id', 's.key_id', 'k.scopes'),
      );
      return row
        ? { orgId: row.org_id as string, keyId: row.key_id as string, scopes: row.scopes as string[] }
        : undefined;
    },
    async end(token) {
      await withSystem(db.owner, (trx) =>
        trx('dashboard_sessions').where('token_hash', hashToken(token)).delete(),
      );
    },
  };
}
