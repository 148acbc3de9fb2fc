import { tenantTable, type Migration } from '@cmis/platform';

export const recommendationsMigrations: Migration[] = [
  {
    name: 'analytics_rec_0001_budget',
    async up(knex) {
      // The latest metrics snapshot of each campaign (spend and conversions over the platform's window).
      await tenantTable(knex, 'rec_campaigns', (t) => {
        t.text('campaign_id').notNullable();
        t.text('platform').notNullable().defaultTo('');
        t.double('spend').notNullable();
        t.double('conversions').notNullable();
        t.double('budget');
        t.timestamp('observed_at', { useTz: true }).notNullable();
        t.primary(['org_id', 'platform', 'campaign_id']);
      });
      // When each org was last computed: at most once per interval.
      await tenantTable(knex, 'rec_orgs', (t) => {
        t.timestamp('computed_at', { useTz: true }).notNullable();
        t.primary(['org_id']);
      });
      await tenantTable(knex, 'rec_recommendations', (t) => {
        t.uuid('recommendation_id').notNullable();
        t.text('platform');
        t.text('from_campaign_id').notNullable();
        t.text('to_campaign_id').notNullable();
        t.double('amount').notNullable();
        t.text('reason').notNullable();
        t.jsonb('metrics').notNullable();
        t.timestamp('created_at', { useTz: true }).notNullable();
        t.primary(['org_id', 'recommendation_id']);
        t.index(['org_id', 'created_at']);
      });
    },
  },
];
