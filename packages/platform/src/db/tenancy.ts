import type { Knex } from 'knex';
import { z } from 'zod';
import { InvalidOrgIdError, WrongConnectionError } from './errors';

export const OrgId = z.string().uuid();
export type OrgId = z.infer<typeof OrgId>;

type ConnectionKind = 'app' | 'owner';
const connectionKinds = new WeakMap<Knex, ConnectionKind>();

/** Called by createDatabase only; lets withOrg/withSystem refuse a connection of the wrong kind. */
export function registerConnection(knex: Knex, kind: ConnectionKind): void {
  connectionKinds.set(knex, kind);
}

/**
 * Runs `work` in a transaction of the app connection scoped to one org: row-level security
 * then shows and accepts only that org's rows. The setting is transaction-local, so a pooled
 * connection never carries an org into the next transaction.
 */
export async function withOrg<T>(
  app: Knex,
  orgId: string,
  work: (trx: Knex.Transaction) => Promise<T>,
): Promise<T> {
  if (!OrgId.safeParse(orgId).success) throw new InvalidOrgIdError(orgId);
  if (connectionKinds.get(app) !== 'app') throw new WrongConnectionError('withOrg', 'app');
  return app.transaction(async (trx) => {
    await trx.raw(`select set_config('app.current_org_id', ?, true)`, [orgId]);
    return work(trx);
  });
}

/**
 * Runs `work` in a transaction of the owner connection, which sees every org's rows.
 * Only infrastructure that is cross-org by nature may use it: the outbox relay, the timer
 * poller, inbox bookkeeping. Request handlers and domain consumers use withOrg.
 */
export async function withSystem<T>(owner: Knex, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  if (connectionKinds.get(owner) !== 'owner') throw new WrongConnectionError('withSystem', 'owner');
  return owner.transaction(work);
}

/**
 * One transaction of the app connection that works for several orgs in turn: `useOrg(orgId)`
 * switches the transaction-local org before each org's reads and writes. For consumers that
 * apply a batch spanning orgs atomically (one commit instead of one per org).
 */
export async function withOrgs<T>(
  app: Knex,
  work: (trx: Knex.Transaction, useOrg: (orgId: string) => Promise<void>) => Promise<T>,
): Promise<T> {
  if (connectionKinds.get(app) !== 'app') throw new WrongConnectionError('withOrgs', 'app');
  return app.transaction(async (trx) => {
    const useOrg = async (orgId: string) => {
      if (!OrgId.safeParse(orgId).success) throw new InvalidOrgIdError(orgId);
      await trx.raw(`select set_config('app.current_org_id', ?, true)`, [orgId]);
    };
    return work(trx, useOrg);
  });
}
