import { tenantTable, type Migration } from '@cmis/platform';

export const rfmMigrations: Migration[] = [
  {
    name: 'analytics_rfm_0001_projections',
    async up(knex) {
      // Orders as they arrive (Order Completed / order_completed, amount from revenue or total).
      await tenantTable(knex, 'rfm_orders', (t) => {
        t.bigIncrements('id').primary();
        t.text('contact_id').notNullable();
        t.timestamp('at', { useTz: true }).notNullable();
        t.decimal('amount', 18, 4).notNullable();
        t.index(['org_id', 'contact_id', 'at']);
        t.index(['org_id', 'at']);
      });
      // Each buyer's values and scores as last computed; in_window false: all orders aged out.
      await tenantTable(knex, 'rfm_scores', (t) => {
        t.text('contact_id').notNullable();
        t.timestamp('last_order_at', { useTz: true }).notNullable();
        t.integer('orders').notNullable();
        t.decimal('revenue', 18, 4).notNullable();
        t.integer('recency').notNullable();
        t.integer('frequency').notNullable();
        t.integer('monetary').notNullable();
        t.text('segment').notNullable();
        t.boolean('in_window').notNullable();
        t.timestamp('updated_at', { useTz: true }).notNullable();
        t.primary(['org_id', 'contact_id']);
      });
      await tenantTable(knex, 'rfm_settings', (t) => {
        t.integer('window_days').notNullable();
        t.primary(['org_id']);
      });
    },
  },
];
