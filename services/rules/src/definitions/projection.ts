// The `rules` read model as a rebuildable projection of the rule streams: the command path
// writes it through `apply`, and `cmis rebuild rules` refolds every stream through the same code.
import type { RebuildableProjection } from '@cmis/platform';
import { ruleDecider, type RuleEvent, type RuleState } from './definitions';
import { triggerKey } from './rule';

export const RULE_STREAM = 'rule';

export const rulesProjection: RebuildableProjection<RuleState, RuleEvent> = {
  name: 'rules',
  streamType: RULE_STREAM,
  tables: ['rules'],
  evolver: ruleDecider,
  async apply(trx, { orgId, state }) {
    if (state.status === 'absent') return;
    await trx('rules')
      .insert({
        org_id: orgId,
        rule_id: state.ruleId,
        version: state.version,
        definition: JSON.stringify(state.definition),
        enabled: state.definition.enabled,
        deleted: state.status === 'deleted',
        trigger_key: triggerKey(state.definition),
        created_at: state.createdAt,
        updated_at: state.updatedAt,
      })
      .onConflict(['org_id', 'rule_id'])
      .merge();
  },
};
