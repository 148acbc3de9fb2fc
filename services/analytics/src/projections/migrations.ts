// The projections' tables (prefixed m_): one row per result event, keyed by the event id, so a
// redelivered or replayed event changes nothing (ON CONFLICT DO NOTHING) and a rebuild can run
// beside the live consumers. Measures are read from these rows; nothing here is pre-aggregated.
import { tenantTable, type Migration } from '@cmis/platform';

export const PROJECTION_TABLES = [
  'm_actions',
  'm_entity_metrics',
  'm_rule_events',
  'm_email_events',
  'm_workflow_events',
  'm_drip_events',
] as const;
export type ProjectionTable = (typeof PROJECTION_TABLES)[number];

export const projectionMigrations: Migration[] = [
  {
    name: 'analytics_projections_0001_tables',
    async up(knex) {
      // Track calls; revenue is set for conversions (see conversionRevenue in rows.ts).
      await tenantTable(knex, 'm_actions', (t) => {
        t.text('event_id').notNullable();
        t.text('contact_id').notNullable();
        t.text('event').notNullable();
        t.decimal('revenue', 18, 4);
        t.text('currency');
        t.text('campaign').comment('The ad campaign the action came from, when the upstream names one');
        t.timestamp('at', { useTz: true }).notNullable();
        t.primary(['org_id', 'event_id']);
        t.index(['org_id', 'at']);
        t.index(['org_id', 'contact_id', 'at']);
      });
      await tenantTable(knex, 'm_entity_metrics', (t) => {
        t.text('event_id').notNullable();
        t.text('platform').notNullable();
        t.text('entity_type').notNullable();
        t.text('entity_id').notNullable();
        t.jsonb('metrics').notNullable();
        t.timestamp('observed_at', { useTz: true }).notNullable();
        t.primary(['org_id', 'event_id']);
        t.index(['org_id', 'entity_id', 'observed_at']);
        t.index(['org_id', 'observed_at']);
      });
      await tenantTable(knex, 'm_rule_events', (t) => {
        t.text('event_id').notNullable();
        t.text('type').notNullable(); // fired | requested | succeeded | failed
        t.text('rule_id').notNullable();
        t.integer('rule_version').notNullable();
        t.text('action_id');
        t.text('action_kind');
        t.text('campaign_id');
        t.boolean('dry_run');
        t.boolean('retryable');
        t.text('subject');
        t.timestamp('at', { useTz: true }).notNullable();
        t.primary(['org_id', 'event_id']);
        t.index(['org_id', 'rule_id', 'at']);
      });
      await tenantTable(knex, 'm_email_events', (t) => {
        t.text('event_id').notNullable();
        t.text('type').notNullable(); // requested, sent, delivered, opened, clicked, bounced, ...
        t.text('message_id').notNullable();
        t.text('contact_id');
        t.text('origin_kind').notNullable();
        t.text('origin_id').notNullable();
        t.text('step_id');
        t.text('instance_id');
        t.boolean('machine').notNullable().defaultTo(false);
        t.text('detail').comment('bounce type, suppression reason, clicked url');
        t.timestamp('at', { useTz: true }).notNullable();
        t.primary(['org_id', 'event_id']);
        t.index(['org_id', 'at']);
        t.index(['org_id', 'origin_kind', 'origin_id', 'at']);
        t.index(['org_id', 'contact_id', 'at']);
      });
      await tenantTable(knex, 'm_workflow_events', (t) => {
        t.text('event_id').notNullable();
        t.text('type').notNullable(); // started, step, waiting, step_failed, ended, migrated
        t.text('workflow_id').notNullable();
        t.text('instance_id').notNullable();
        t.text('contact_id').notNullable();
        t.text('step_id');
        t.text('status').comment('ended: completed, converted, exited, failed, cancelled');
        t.timestamp('at', { useTz: true }).notNullable();
        t.primary(['org_id', 'event_id']);
        t.index(['org_id', 'workflow_id', 'type']);
      });
      await tenantTable(knex, 'm_drip_events', (t) => {
        t.text('event_id').notNullable();
        t.text('type').notNullable(); // enrolled, due, requested, skipped, exited, completed, converted
        t.text('drip_id').notNullable();
        t.text('subscription_id').notNullable();
        t.text('contact_id').notNullable();
        t.text('step_id');
        t.timestamp('at', { useTz: true }).notNullable();
        t.primary(['org_id', 'event_id']);
        t.index(['org_id', 'drip_id', 'type']);
      });
      await tenantTable(knex, 'm_settings', (t) => {
        t.text('attribution_model').notNullable();
        t.integer('click_window_days').notNullable();
        t.integer('open_window_days').notNullable();
        t.decimal('message_cost', 12, 6).notNullable();
        t.timestamp('updated_at', { useTz: true }).notNullable();
        t.primary(['org_id']);
      });
    },
  },
];
