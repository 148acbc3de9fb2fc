import { tenantTable, timerMigrations, type Migration } from '@cmis/platform';

export const workflowsMigrations: Migration[] = [
  ...timerMigrations,
  {
    name: 'workflows_0001_read_models',
    async up(knex) {
      // Folded from each workflow's stream (the audit trail): the draft and the latest version.
      await tenantTable(knex, 'workflows', (t) => {
        t.text('workflow_id').notNullable();
        t.text('name').notNullable();
        t.text('status').notNullable(); // draft | active | archived
        t.jsonb('draft').notNullable();
        t.integer('revision').notNullable();
        t.integer('latest_version');
        t.timestamp('created_at', { useTz: true }).notNullable();
        t.timestamp('updated_at', { useTz: true }).notNullable();
        t.primary(['org_id', 'workflow_id']);
      });
      // Published versions are immutable: instances run the version they entered on.
      await tenantTable(knex, 'workflow_versions', (t) => {
        t.text('workflow_id').notNullable();
        t.integer('version').notNullable();
        t.jsonb('definition').notNullable();
        t.text('entry_event');
        t.timestamp('published_at', { useTz: true }).notNullable();
        t.primary(['org_id', 'workflow_id', 'version']);
      });
      // Signing secrets of webhook steps, kept out of events.
      await tenantTable(knex, 'webhook_secrets', (t) => {
        t.text('workflow_id').notNullable();
        t.text('secret').notNullable();
        t.primary(['org_id', 'workflow_id']);
      });
      await tenantTable(knex, 'contacts', (t) => {
        t.text('contact_id').notNullable();
        t.jsonb('traits').notNullable();
        t.primary(['org_id', 'contact_id']);
      });
      // The recorded track calls: waits look back here (an event that came first is not missed),
      // backtests replay them. Pruned after WORKFLOWS_EVENT_RETENTION_DAYS.
      await tenantTable(knex, 'contact_events', (t) => {
        t.text('event_id').notNullable();
        t.text('contact_id').notNullable();
        t.text('name').notNullable();
        t.timestamp('occurred_at', { useTz: true }).notNullable();
        t.jsonb('data').notNullable();
        t.primary(['org_id', 'event_id']);
        t.index(['org_id', 'contact_id', 'name', 'occurred_at']);
        t.index(['org_id', 'occurred_at']);
      });
      // Snapshot of each instance's stream (rebuildable by folding it), for lookups and lists.
      await tenantTable(knex, 'instances', (t) => {
        t.text('instance_id').notNullable();
        t.text('workflow_id').notNullable();
        t.integer('version').notNullable();
        t.text('contact_id').notNullable();
        t.text('status').notNullable();
        t.text('step_id');
        t.jsonb('state').notNullable();
        t.integer('stream_version').notNullable();
        t.text('last_error');
        t.timestamp('started_at', { useTz: true }).notNullable();
        t.timestamp('updated_at', { useTz: true }).notNullable();
        t.primary(['org_id', 'instance_id']);
        t.index(['org_id', 'contact_id', 'status']);
        t.index(['org_id', 'workflow_id', 'status']);
      });
      // Re-entry bookkeeping per workflow and contact.
      await tenantTable(knex, 'enrollments', (t) => {
        t.text('workflow_id').notNullable();
        t.text('contact_id').notNullable();
        t.integer('entries').notNullable();
        t.timestamp('last_entered_at', { useTz: true }).notNullable();
        t.text('running_instance_id');
        t.primary(['org_id', 'workflow_id', 'contact_id']);
      });
      // Instances waiting for an event, found by the contact and the event's name.
      await tenantTable(knex, 'waits', (t) => {
        t.text('instance_id').notNullable();
        t.text('contact_id').notNullable();
        t.text('name').notNullable();
        t.text('step_id').notNullable();
        t.integer('visit').notNullable();
        t.timestamp('since', { useTz: true }).notNullable();
        t.timestamp('until', { useTz: true }).notNullable();
        t.primary(['org_id', 'instance_id']);
        t.index(['org_id', 'contact_id', 'name']);
      });
      // Webhook steps: the intent, written with the step; the worker delivers after the commit.
      await tenantTable(knex, 'webhook_deliveries', (t) => {
        t.text('delivery_id').notNullable();
        t.text('instance_id').notNullable();
        t.text('step_id').notNullable();
        t.integer('visit').notNullable();
        t.jsonb('request').notNullable();
        t.timestamp('due_at', { useTz: true }).notNullable();
        t.timestamp('leased_until', { useTz: true });
        t.primary(['org_id', 'delivery_id']);
        t.index(['due_at']);
      });
      // Every decision with its inputs: why a contact got, or did not get, a message.
      await tenantTable(knex, 'history', (t) => {
        t.bigIncrements('id').primary();
        t.text('contact_id').notNullable();
        t.text('workflow_id').notNullable();
        t.text('instance_id');
        t.text('step_id');
        t.text('kind').notNullable();
        t.text('outcome').notNullable();
        t.jsonb('inputs').notNullable();
        t.timestamp('at', { useTz: true }).notNullable();
        t.index(['org_id', 'contact_id', 'id']);
      });
    },
  },
  {
    name: 'workflows_0002_split_allocations',
    async up(knex) {
      // The latest bandit allocation of each random split (analytics' allocation-updated): the
      // highest revision wins, so a redelivered or late older one changes nothing.
      await tenantTable(knex, 'split_allocations', (t) => {
        t.text('workflow_id').notNullable();
        t.text('step_id').notNullable();
        t.integer('revision').notNullable();
        t.timestamp('as_of', { useTz: true }).notNullable();
        t.text('metric').notNullable();
        t.jsonb('weights').notNullable();
        t.timestamp('updated_at', { useTz: true }).notNullable();
        t.primary(['org_id', 'workflow_id', 'step_id']);
      });
    },
  },
];
