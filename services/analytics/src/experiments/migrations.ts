import { tenantTable, type Migration } from '@cmis/platform';

export const experimentsMigrations: Migration[] = [
  {
    name: 'analytics_exp_0001_projections',
    async up(knex) {
      // One row per exposure unit of a split: an email message (email A/B), an instance's pass
      // through a random split (workflows). Counts are aggregated from it at read time, so events
      // arriving in either order (sent before rendered) still count once.
      await tenantTable(knex, 'exp_units', (t) => {
        t.text('kind').notNullable();
        t.text('unit_id').notNullable();
        t.text('experiment_id');
        t.text('variant_id');
        t.text('contact_id');
        t.text('instance_id');
        t.boolean('exposed').notNullable().defaultTo(false);
        t.timestamp('exposed_at', { useTz: true });
        t.boolean('converted').notNullable().defaultTo(false);
        t.timestamp('converted_at', { useTz: true });
        t.primary(['org_id', 'kind', 'unit_id']);
        t.index(['org_id', 'experiment_id', 'variant_id']);
        t.index(['org_id', 'kind', 'instance_id']);
      });
      // Orders (revenue) by contact, for revenue per exposed contact and rule holdouts.
      await tenantTable(knex, 'exp_orders', (t) => {
        t.text('event_id').notNullable();
        t.text('contact_id').notNullable();
        t.double('revenue').notNullable();
        t.timestamp('at', { useTz: true }).notNullable();
        t.primary(['org_id', 'event_id']);
        t.index(['org_id', 'contact_id', 'at']);
      });
      // Per experiment: the running minimum of the always-valid p-value over every look, and
      // the decision once taken.
      await tenantTable(knex, 'exp_experiments', (t) => {
        t.text('experiment_id').notNullable();
        t.double('msprt_p').notNullable().defaultTo(1);
        t.integer('looks').notNullable().defaultTo(0);
        t.jsonb('decision');
        t.timestamp('decided_at', { useTz: true });
        t.primary(['org_id', 'experiment_id']);
      });
      // The first firing of each rule per subject, held out or acted on.
      await tenantTable(knex, 'exp_rule_firings', (t) => {
        t.text('rule_id').notNullable();
        t.text('subject').notNullable();
        t.boolean('held_out').notNullable();
        t.timestamp('fired_at', { useTz: true }).notNullable();
        t.primary(['org_id', 'rule_id', 'subject']);
      });
      // Entity metric snapshots, for what held-out and acted-on entities did after a firing.
      await tenantTable(knex, 'exp_entity_metrics', (t) => {
        t.text('event_id').notNullable();
        t.text('entity_id').notNullable();
        t.text('entity_type').notNullable();
        t.jsonb('metrics').notNullable();
        t.timestamp('observed_at', { useTz: true }).notNullable();
        t.primary(['org_id', 'event_id']);
        t.index(['org_id', 'entity_id', 'observed_at']);
      });
    },
  },
  {
    name: 'analytics_exp_0002_bandits',
    async up(knex) {
      // Splits allocated by a bandit, as their passes say (the latest workflow version's options),
      // with what throttles their allocations: outcomes since the last one, when it was, whether
      // the timer of the next one is pending, and the revision it carried.
      await tenantTable(knex, 'exp_bandits', (t) => {
        t.text('experiment_id').notNullable();
        t.text('kind').notNullable();
        t.text('workflow_id').notNullable();
        t.text('step_id').notNullable();
        t.integer('config_version').notNullable();
        t.text('metric').notNullable();
        t.double('exploration_share').notNullable();
        t.jsonb('variants').notNullable();
        t.integer('pending_outcomes').notNullable().defaultTo(0);
        t.boolean('timer_pending').notNullable().defaultTo(false);
        t.integer('revision').notNullable().defaultTo(0);
        t.timestamp('last_published_at', { useTz: true });
        t.primary(['org_id', 'experiment_id']);
      });
    },
  },
];
