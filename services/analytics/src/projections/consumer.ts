// The projections' inbox consumers: one group per stream, each applying an org's fresh events
// in one multi-row INSERT per table. Rows are keyed by the event id, so a replay (rebuild) or a
// second delivery inserts nothing new.
import {
  dripSubscriptionsTopic,
  emailMessagesTopic,
  entityMetricsTopic,
  ruleActionsTopic,
  ruleEventsTopic,
  userActionsTopic,
  workflowInstancesTopic,
  type EventEnvelope,
} from '@cmis/contracts';
import type { ApplyEvents } from '@cmis/platform';
import type { ProjectionTable } from './migrations';
import { actionRow, dripRow, emailRow, metricsRow, ruleRow, workflowRow } from './rows';

export interface Projection {
  /** Consumer group suffix: `<service>.projections.<name>`. */
  name: string;
  table: ProjectionTable;
  topics: string[];
  row(envelope: EventEnvelope): Record<string, unknown> | null;
}

export const PROJECTIONS: Projection[] = [
  { name: 'actions', table: 'm_actions', topics: [userActionsTopic.name], row: actionRow },
  { name: 'entity-metrics', table: 'm_entity_metrics', topics: [entityMetricsTopic.name], row: metricsRow },
  {
    name: 'rules',
    table: 'm_rule_events',
    topics: [ruleEventsTopic.name, ruleActionsTopic.name],
    row: ruleRow,
  },
  { name: 'email', table: 'm_email_events', topics: [emailMessagesTopic.name], row: emailRow },
  { name: 'workflows', table: 'm_workflow_events', topics: [workflowInstancesTopic.name], row: workflowRow },
  { name: 'drip', table: 'm_drip_events', topics: [dripSubscriptionsTopic.name], row: dripRow },
];

// Rows per statement: bounds one statement's JSON.
const INSERT_CHUNK = 2_000;

/** The batch apply of one projection: every fresh event's row, inserted in chunks. */
export function applyProjection(projection: Projection): ApplyEvents {
  return async (events, { trx, orgId }) => {
    const rows: Array<Record<string, unknown>> = [];
    for (const { envelope } of events) {
      const row = projection.row(envelope);
      if (row) rows.push({ org_id: orgId, ...row });
    }
    // One parameter however many rows: Postgres expands the JSON array into the table's row type
    // (columns a row leaves out are null), cheaper to build than a statement of bind lists.
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      await trx.raw(
        `insert into ?? select * from json_populate_recordset(null::??, ?::json) on conflict (org_id, event_id) do nothing`,
        [projection.table, projection.table, JSON.stringify(rows.slice(i, i + INSERT_CHUNK))],
      );
    }
  };
}
