// Runs rule commands: decide against the stream, append, and fold into the `rules` read model in
// the same org transaction; after commit, every replica drops its compiled index of the org.
import {
  handleCommand,
  projectAppended,
  newWebhookSecret,
  withOrg,
  type InvalidatingCache,
  type ServiceRuntime,
} from '@cmis/platform';
import type { Knex } from 'knex';
import { ruleDecider, RuleNotFoundError, type RuleCommand, type RuleState } from './definitions';
import { RULE_STREAM, rulesProjection } from './projection';
import type { RuleDefinition, StoredRule } from './rule';

type Row = {
  rule_id: string;
  version: number;
  definition: RuleDefinition;
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
};

export const toStoredRule = (row: Row): StoredRule => ({
  ruleId: row.rule_id,
  version: row.version,
  definition: row.definition,
  enabled: row.enabled,
  createdAt: new Date(row.created_at).toISOString(),
  updatedAt: new Date(row.updated_at).toISOString(),
});

export interface RuleStore {
  execute(orgId: string, command: RuleCommand): Promise<{ state: RuleState; secret?: string }>;
  get(trx: Knex.Transaction, ruleId: string): Promise<StoredRule>;
  list(trx: Knex.Transaction): Promise<StoredRule[]>;
  /** Enabled, not deleted: what the evaluator indexes. */
  live(trx: Knex.Transaction): Promise<StoredRule[]>;
}

export function createRuleStore(
  rt: ServiceRuntime,
  index: InvalidatingCache<unknown>,
  now: () => Date,
): RuleStore {
  const rules = (trx: Knex.Transaction) => trx('rules');
  return {
    async execute(orgId, command) {
      const result = await withOrg(rt.db.app, orgId, async (trx) => {
        const { newState, newEvents } = await handleCommand(
          rt.eventStore,
          trx,
          ruleDecider,
          { orgId, streamType: RULE_STREAM, streamId: command.data.ruleId },
          command,
          { now },
        );
        if (newState.status === 'absent' || newEvents.length === 0) return { state: newState };
        await projectAppended(trx, rulesProjection, {
          orgId,
          streamId: newState.ruleId,
          state: newState,
          events: newEvents,
        });
        let secret: string | undefined;
        if (newState.definition.actions.some((a) => a.kind === 'webhook')) {
          secret = newWebhookSecret();
          const inserted = await trx('webhook_secrets')
            .insert({ org_id: orgId, rule_id: newState.ruleId, secret })
            .onConflict(['org_id', 'rule_id'])
            .ignore()
            .returning('secret');
          if (inserted.length === 0) secret = undefined; // the rule already had one; it is shown once
        }
        return { state: newState, secret };
      });
      await index.invalidate(orgId);
      return result;
    },
    async get(trx, ruleId) {
      const row = await rules(trx).where({ rule_id: ruleId, deleted: false }).first();
      if (!row) throw new RuleNotFoundError(ruleId);
      return toStoredRule(row as Row);
    },
    async list(trx) {
      const rows = await rules(trx).where({ deleted: false }).orderBy('created_at').orderBy('rule_id');
      return (rows as Row[]).map(toStoredRule);
    },
    async live(trx) {
      const rows = await rules(trx).where({ deleted: false, enabled: true });
      return (rows as Row[]).map(toStoredRule);
    },
  };
}
