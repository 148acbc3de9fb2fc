import type { Pool } from 'pg';
import { schemaLockKey } from './keys';
import { inTransaction } from './transaction';

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,49}$/;
/** Kafka's legal topic names; they also keep NOTIFY payloads unambiguous. */
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

export function assertSchemaName(schema: string): void {
  if (!SCHEMA_NAME.test(schema) || schema.startsWith('pg_')) {
    throw new Error(`embedded bus schema must be lower snake case, at most 50 characters: ${schema}`);
  }
}

export function assertTopicName(topic: string): void {
  if (!TOPIC_NAME.test(topic) || topic === '.' || topic === '..') {
    throw new Error(`not a legal topic name (letters, digits, '.', '_', '-'; at most 249): ${topic}`);
  }
}

/** The NOTIFY channel publishers and membership changes wake pollers on. */
export const wakeChannel = (schema: string) => `${schema}_wake`;

/** The tables, in the order they must be created. Every statement is idempotent. */
export function schemaStatements(schema: string): string[] {
  const s = `"${schema}"`;
  return [
    `create schema if not exists ${s}`,
    `create table if not exists ${s}.topics (
       name text primary key,
       partitions integer not null check (partitions > 0),
       retention_ms bigint not null check (retention_ms >= -1),
       created_at timestamptz not null default now()
     )`,
    // The row a publisher locks while it takes offsets: offsets are gap-free in commit order.
    `create table if not exists ${s}.partitions (
       topic text not null references ${s}.topics (name),
       partition integer not null check (partition >= 0),
       next_offset bigint not null default 0,
       primary key (topic, partition)
     )`,
    `create table if not exists ${s}.messages (
       topic text not null,
       partition integer not null,
       "offset" bigint not null,
       key text,
       value bytea,
       headers jsonb not null default '{}',
       "timestamp" timestamptz not null default now(),
       primary key (topic, partition, "offset")
     )`,
    `create table if not exists ${s}.committed_offsets (
       group_id text not null,
       topic text not null,
       partition integer not null,
       "offset" bigint not null,
       committed_at timestamptz not null default now(),
       primary key (group_id, topic, partition)
     )`,
    // session_lock: the advisory lock the member's session holds; a row whose lock nobody holds
    // belongs to a process whose connection is gone.
    `create table if not exists ${s}.members (
       group_id text not null,
       member_id text not null,
       client_id text not null,
       topics text[] not null,
       session_lock bigint not null,
       joined_at timestamptz not null default now(),
       heartbeat_at timestamptz not null default now(),
       primary key (group_id, member_id)
     )`,
  ];
}

/**
 * Creates the bus's schema and tables if missing. Two processes starting at once would race on
 * the catalogs ("duplicate key value violates unique constraint pg_namespace..."), so the DDL
 * runs under a transaction-level advisory lock: the second waits, then finds everything there.
 */
export async function ensureSchema(pool: Pool, schema: string): Promise<void> {
  await inTransaction(pool, async (client) => {
    await client.query('select pg_advisory_xact_lock($1::bigint)', [schemaLockKey(schema)]);
    for (const statement of schemaStatements(schema)) await client.query(statement);
  });
}
