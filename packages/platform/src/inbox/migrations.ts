import type { Migration } from '../db';
import { tenantTable } from '../db';

/** The inbox's bookkeeping: which event ids each consumer group has applied, per org. */
/**
 * inbox_claim(org, group, ids) with `insert` as its statement: switches the transaction to the
 * org, records the ids and returns the ones not seen before. It runs with the caller's rights.
 */
const claimFunction = (insert: string) => `
  create or replace function inbox_claim(p_org_id uuid, p_group text, p_event_ids text[])
    returns setof text
    language plpgsql
    set search_path from current
  as $$
  begin
    perform set_config('app.current_org_id', p_org_id::text, true);
    return query ${insert};
  end
  $$`;

const INSERT_ON_CONFLICT = `
  insert into inbox_processed (org_id, consumer_group, event_id)
    select p_org_id, p_group, unnest(p_event_ids)
  on conflict do nothing
  returning event_id`;

const INSERT_AFTER_PROBE = `
  insert into inbox_processed (org_id, consumer_group, event_id)
    select p_org_id, p_group, fresh.id
      from unnest(p_event_ids) as fresh(id)
     where not exists (
       select 1 from inbox_processed p
        where p.org_id = p_org_id and p.consumer_group = p_group and p.event_id = fresh.id)
  returning event_id`;

export const inboxMigrations: Migration[] = [
  {
    name: 'platform_0001_inbox_processed',
    async up(knex) {
      await tenantTable(knex, 'inbox_processed', (t) => {
        t.text('consumer_group').notNullable();
        t.text('event_id').notNullable();
        t.timestamp('processed_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
        t.primary(['org_id', 'consumer_group', 'event_id']);
      });
    },
  },
  {
    // One round trip per org and batch instead of two: switch the transaction to the org and
    // record its event ids, returning the ones not seen before. It runs with the caller's rights,
    // so row-level security applies as to any statement under that org.
    name: 'platform_0002_inbox_claim',
    async up(knex) {
      await knex.raw(claimFunction(INSERT_ON_CONFLICT));
    },
  },
  {
    // Fresh ids found by an index probe, then a plain insert: a third cheaper than ON CONFLICT's
    // speculative insertion. Two members racing on one partition (mid-rebalance) meet at the
    // primary key; the loser's batch fails with a unique violation and is retried, finding the
    // ids recorded.
    name: 'platform_0003_inbox_claim_probe',
    async up(knex) {
      await knex.raw(claimFunction(INSERT_AFTER_PROBE));
    },
  },
  {
    // Back to ON CONFLICT: the probe's plan is cached per session, and one planned while the
    // table was still empty scans all of an org's rows for every claim (an index scan on org and
    // group with the event id as a join filter): the inbox bench fell from 0.21 to 0.11 of a raw
    // consume as the table grew. ON CONFLICT finds conflicts through the primary key whatever
    // the plan. A member racing another for one partition waits for it and then finds the ids
    // taken.
    name: 'platform_0004_inbox_claim_on_conflict',
    async up(knex) {
      await knex.raw(claimFunction(INSERT_ON_CONFLICT));
    },
  },
  {
    // What a consumer needs back is the ids already recorded, which is almost always none: the
    // fresh ones came back as one result row per event, which the client parsed only to find
    // them all fresh. inbox_claim stays for replicas of the version before during a deploy.
    name: 'platform_0005_inbox_claim_seen',
    async up(knex) {
      await knex.raw(`
        create or replace function inbox_claim_seen(p_org_id uuid, p_group text, p_event_ids text[])
          returns setof text
          language plpgsql
          set search_path from current
        as $$
        declare
          v_recorded text[];
        begin
          perform set_config('app.current_org_id', p_org_id::text, true);
          with recorded as (${INSERT_ON_CONFLICT})
          select array_agg(event_id) into v_recorded from recorded;
          if coalesce(cardinality(v_recorded), 0) < cardinality(p_event_ids) then
            return query
              select id from unnest(p_event_ids) as given(id)
              except
              select unnest(v_recorded);
          end if;
        end
        $$`);
    },
  },
  {
    // For pruning past the retention window (prune.ts). BRIN: rows arrive in processed_at order,
    // so a few pages summarise the whole table and inserts stay as cheap as they were.
    name: 'platform_0006_inbox_processed_at',
    async up(knex) {
      await knex.raw('create index inbox_processed_at on inbox_processed using brin (processed_at)');
    },
  },
];
