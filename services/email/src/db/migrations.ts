import { tenantTable, type Migration } from '@cmis/platform';

export const emailMigrations: Migration[] = [
  {
    name: 'email_0001_read_models',
    async up(knex) {
      // Who can be emailed, projected from triggers' contact events, and their consent.
      await tenantTable(knex, 'contacts', (t) => {
        t.text('contact_id').notNullable();
        t.text('address');
        t.text('name');
        t.text('time_zone');
        t.text('locale');
        t.jsonb('traits').notNullable().defaultTo('{}');
        t.timestamp('unsubscribed_at', { useTz: true });
        // Preference-center topics the contact opted out of.
        t.specificType('unsubscribed_topics', 'text[]').notNullable().defaultTo('{}');
        t.timestamp('updated_at', { useTz: true }).notNullable();
        t.primary(['org_id', 'contact_id']);
      });
      // Addresses that receive nothing more: hard bounces, complaints, soft bounces over the limit.
      await tenantTable(knex, 'suppressions', (t) => {
        t.text('address').notNullable();
        t.text('reason').notNullable();
        t.text('message_id');
        t.text('detail');
        t.timestamp('at', { useTz: true }).notNullable();
        t.primary(['org_id', 'address']);
      });
      await tenantTable(knex, 'soft_bounces', (t) => {
        t.text('address').notNullable();
        t.integer('count').notNullable();
        t.timestamp('last_at', { useTz: true }).notNullable();
        t.primary(['org_id', 'address']);
      });
      // The current version of each template and partial (the stream is the truth).
      await tenantTable(knex, 'templates', (t) => {
        t.text('template_id').notNullable();
        t.text('name').notNullable();
        t.text('kind').notNullable();
        t.integer('version').notNullable();
        t.boolean('deleted').notNullable().defaultTo(false);
        t.timestamp('updated_at', { useTz: true }).notNullable();
        t.primary(['org_id', 'template_id']);
      });
      // Every version's content, so a message can be rendered from the version it names.
      await tenantTable(knex, 'template_versions', (t) => {
        t.text('template_id').notNullable();
        t.integer('version').notNullable();
        t.jsonb('content').notNullable();
        t.text('saved_by').notNullable();
        t.timestamp('saved_at', { useTz: true }).notNullable();
        t.primary(['org_id', 'template_id', 'version']);
      });
      // One row per message: what the read API shows, the links a click may go to, and, while it
      // waits to be sent, the rendered content and its place in the send queue (due_at). The row
      // written beside the message's rendered event is the intent recorded before the hand-off.
      await tenantTable(knex, 'messages', (t) => {
        t.text('message_id').notNullable();
        t.text('idempotency_key').notNullable();
        t.text('status').notNullable();
        t.text('contact_id');
        t.text('address');
        t.text('recipient_name');
        t.jsonb('origin').notNullable();
        t.boolean('transactional').notNullable();
        t.text('subscription_topic');
        t.text('template_id');
        t.integer('template_version');
        t.text('ab_test_id');
        t.text('variant_id');
        t.text('subject');
        t.jsonb('links').notNullable().defaultTo('[]');
        // Rendered content and headers, kept until the message leaves the queue.
        t.jsonb('content');
        t.jsonb('metadata').notNullable().defaultTo('{}');
        t.integer('attempts').notNullable().defaultTo(0);
        t.timestamp('due_at', { useTz: true });
        t.timestamp('leased_until', { useTz: true });
        t.timestamp('created_at', { useTz: true }).notNullable();
        t.timestamp('sent_at', { useTz: true });
        t.text('smtp_message_id');
        // Engagement by a person (machine opens and clicks excluded), for A/B decisions.
        t.boolean('human_opened').notNullable().defaultTo(false);
        t.boolean('human_clicked').notNullable().defaultTo(false);
        t.primary(['org_id', 'message_id']);
        t.index(['org_id', 'contact_id', 'created_at']);
        t.index(['org_id', 'smtp_message_id']);
      });
      await knex.raw(`create index messages_due on messages (due_at) where due_at is not null`);
      await knex.raw(`create index messages_origin on messages (org_id, (origin->>'kind'), (origin->>'id'))`);
      // Per-org sending settings: provider, DKIM key, sender, policy, webhook credentials.
      // Secrets live here, never in events.
      await tenantTable(knex, 'settings', (t) => {
        t.jsonb('settings').notNullable();
        t.timestamp('updated_at', { useTz: true }).notNullable();
        t.primary(['org_id']);
      });
      // Mailgun webhook tokens already seen (a replayed token is refused).
      await tenantTable(knex, 'webhook_tokens', (t) => {
        t.text('token').notNullable();
        t.timestamp('seen_at', { useTz: true }).notNullable();
        t.primary(['org_id', 'token']);
      });
    },
  },
  {
    name: 'email_0002_broadcasts',
    async up(knex) {
      await tenantTable(knex, 'audiences', (t) => {
        t.text('audience_id').notNullable();
        t.text('name').notNullable();
        t.integer('size').notNullable();
        t.timestamp('created_at', { useTz: true }).notNullable();
        t.primary(['org_id', 'audience_id']);
      });
      await tenantTable(knex, 'audience_members', (t) => {
        t.text('audience_id').notNullable();
        t.integer('position').notNullable();
        t.text('contact_id');
        t.text('address');
        t.primary(['org_id', 'audience_id', 'position']);
      });
      await tenantTable(knex, 'broadcasts', (t) => {
        t.text('broadcast_id').notNullable();
        t.jsonb('definition').notNullable();
        t.text('status').notNullable();
        t.text('phase').notNullable().defaultTo('rest');
        // How far through the audience the current phase has got: the next position to look at.
        t.integer('cursor').notNullable().defaultTo(0);
        t.integer('requested').notNullable().defaultTo(0);
        t.text('paused_reason');
        t.text('winner_variant_id');
        t.timestamp('decide_at', { useTz: true });
        t.timestamp('next_at', { useTz: true });
        t.timestamp('leased_until', { useTz: true });
        t.timestamp('created_at', { useTz: true }).notNullable();
        t.primary(['org_id', 'broadcast_id']);
      });
      await knex.raw(`create index broadcasts_due on broadcasts (next_at) where next_at is not null`);
    },
  },
  {
    // What the local SMTP receiver took in (the dev inbox of the embedded default). Not a tenant
    // table: the receiver does not know orgs; it is a developer's mailbox.
    name: 'email_0003_dev_inbox',
    async up(knex) {
      await knex.schema.createTable('dev_inbox', (t) => {
        t.bigIncrements('id').primary();
        t.text('envelope_from');
        t.specificType('recipients', 'text[]').notNullable();
        t.text('message_id');
        t.text('subject');
        t.text('from_header');
        t.text('to_header');
        t.text('html');
        t.text('text');
        t.jsonb('headers').notNullable();
        t.binary('raw').notNullable();
        t.timestamp('received_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
      });
    },
  },
  {
    // Audiences that follow an analytics segment: members added on segment-entered at the next
    // position, removed on segment-exited; a broadcast sends to the positions present at its start.
    name: 'email_0004_segment_audiences',
    async up(knex) {
      await knex.schema.alterTable('audiences', (t) => {
        t.text('segment_id');
        t.integer('next_position').notNullable().defaultTo(0);
      });
      await knex.raw(
        `create index audiences_by_segment on audiences (org_id, segment_id) where segment_id is not null`,
      );
      await knex.raw(
        `create index audience_members_by_contact on audience_members (org_id, audience_id, contact_id)`,
      );
      await knex.schema.alterTable('broadcasts', (t) => {
        // Positions below it are the audience at start (null: the whole, static, audience).
        t.integer('audience_end');
      });
    },
  },
];
