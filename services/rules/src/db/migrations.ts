import { tenantTable, type Migration } from '@cmis/platform';

export const rulesMigrations: Migration[] = [
  {
    name: 'rules_0001_read_models',
    async up(knex) {
      // The current version of every rule, folded from its stream (the stream is the truth).
      await tenantTable(knex, 'rules', (t) => {
        t.text('rule_id').notNullable();
        t.integer('version').notNullable();
        t.jsonb('definition').notNullable();
        t.boolean('enabled').notNullable();
        t.boolean('deleted').notNullable().defaultTo(false);
        t.text('trigger_key').notNullable();
        t.timestamp('created_at', { useTz: true }).notNullable();
        t.timestamp('updated_at', { useTz: true }).notNullable();
        t.primary(['org_id', 'rule_id']);
      });
      // Kept out of the rule's events: secrets never travel in events or the audit trail.
      await tenantTable(knex, 'webhook_secrets', (t) => {
        t.text('rule_id').notNullable();
        t.text('secret').notNullable();
        t.primary(['org_id', 'rule_id']);
      });
      await tenantTable(knex, 'contacts', (t) => {
        t.text('contact_id').notNullable();
        t.jsonb('traits').notNullable();
        t.primary(['org_id', 'contact_id']);
      });
      await tenantTable(knex, 'entity_metrics', (t) => {
        t.text('entity_type').notNullable();
        t.text('entity_id').notNullable();
        t.jsonb('metrics').notNullable();
        t.jsonb('previous_metrics');
        t.timestamp('observed_at', { useTz: true }).notNullable();
        t.primary(['org_id', 'entity_type', 'entity_id']);
      });
      // What evaluations decided besides firing: dry runs, suppressions, and non-matches for a reason.
      await tenantTable(knex, 'rule_evaluations', (t) => {
        t.bigIncrements('id').primary();
        t.text('rule_id').notNullable();
        t.integer('rule_version').notNullable();
        t.text('subject').notNullable();
        t.text('event_id').notNullable();
        t.text('outcome').notNullable();
        t.text('reason');
        t.jsonb('detail').notNullable();
        t.timestamp('at', { useTz: true }).notNullable();
        t.index(['org_id', 'rule_id', 'id']);
      });
      await tenantTable(knex, 'budget_changes', (t) => {
        t.text('campaign_id').notNullable();
        t.date('day').notNullable();
        t.double('percent_total').notNullable();
        t.primary(['org_id', 'campaign_id', 'day']);
      });
    },
  },
  {
    // Webhook actions waiting for delivery, written with the firing in its transaction and
    // delivered by the webhook worker outside any transaction (webhook/worker.ts). A row is leased
    // while its delivery runs; one whose lease ran out (its worker died) is delivered again, under
    // the same webhook-id. It leaves when the outcome event is appended.
    name: 'rules_0002_webhook_deliveries',
    async up(knex) {
      await tenantTable(knex, 'webhook_deliveries', (t) => {
        t.text('action_id').notNullable();
        t.text('rule_id').notNullable();
        t.integer('rule_version').notNullable();
        t.text('subject').notNullable();
        t.jsonb('action').notNullable();
        // The action-requested event's metadata: correlation, causation and trace context.
        t.jsonb('metadata').notNullable();
        t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
        t.timestamp('leased_until', { useTz: true });
        t.primary(['org_id', 'action_id']);
        t.index(['created_at']);
      });
    },
  },
];
