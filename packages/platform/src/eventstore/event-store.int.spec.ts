import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { createDatabase, withOrg, withSystem, type Database } from '../db';
import { dropDatabase, freshSchemaName, TEST_DATABASE_URL } from '../db/testing';
import { ConcurrencyError, DuplicateEventError, InvalidAppendError } from './errors';
import { createEventStore, type EventStore } from './event-store';
import { ruleSwitch } from './fixtures/rule-switch';
import { eventStoreMigrations } from './migrations';
import type { NewEvent } from './types';

const occurredAt = new Date('2025-03-01T09:30:00.000Z');
/** A node of EXPLAIN (FORMAT JSON). */
type PlanNode = { 'Node Type': string; 'Actual Rows': number; Plans?: PlanNode[] };
const newEvent = (type: string, data: unknown = {}, extra: Partial<NewEvent> = {}): NewEvent => ({
  id: randomUUID(),
  type,
  data,
  metadata: { correlationId: 'corr-1', actor: 'user:marketer-7' },
  occurredAt,
  ...extra,
});

describe('event store (Postgres)', () => {
  let db: Database;
  let store: EventStore;
  beforeAll(async () => {
    db = createDatabase({ url: TEST_DATABASE_URL, schema: freshSchemaName('es') });
    await db.migrate(eventStoreMigrations);
    store = createEventStore(db);
  });
  afterAll(() => dropDatabase(db));

  const stream = () => ({ orgId: randomUUID(), streamType: 'rule', streamId: randomUUID() });

  it('reads back what it appended, in stream order, with positions and defaults', async () => {
    const { orgId, streamType, streamId } = stream();
    const created = newEvent('RuleCreated', { ruleId: streamId, name: 'Welcome', tags: ['a', 'b'] });
    const enabled = newEvent('RuleEnabled', [1, 2], {
      topic: 'cmis.rules.rule-changes.v1',
      metadata: {
        causationId: 'cmd-1',
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        tracestate: 'vendor=x',
      },
    });

    const result = await withOrg(db.app, orgId, (trx) =>
      store.append(trx, {
        orgId,
        streamType,
        streamId,
        expectedVersion: 'no_stream',
        events: [created, enabled],
      }),
    );
    expect(result.nextVersion).toBe(2);
    expect(result.positions).toHaveLength(2);
    expect(result.positions[0]! < result.positions[1]!).toBe(true);

    const read = await withOrg(db.app, orgId, (trx) => store.readStream(trx, orgId, streamType, streamId));
    expect(read).toEqual([
      {
        id: created.id,
        type: 'RuleCreated',
        data: created.data,
        metadata: created.metadata,
        position: result.positions[0],
        orgId,
        streamType,
        streamId,
        streamVersion: 1,
        topic: null,
        key: null,
        occurredAt,
      },
      expect.objectContaining({
        id: enabled.id,
        data: [1, 2],
        metadata: enabled.metadata,
        streamVersion: 2,
        topic: 'cmis.rules.rule-changes.v1',
        key: `${orgId}:${streamId}`,
      }),
    ]);
    const fromTwo = await withOrg(db.app, orgId, (trx) =>
      store.readStream(trx, orgId, streamType, streamId, { fromVersion: 2 }),
    );
    expect(fromTwo.map((event) => event.id)).toEqual([enabled.id]);
  });

  it('folds a stream into state with a decider', async () => {
    const { orgId, streamType, streamId } = stream();
    const metadata = { correlationId: 'c', actor: 'a' };
    await withOrg(db.app, orgId, (trx) =>
      store.append(trx, {
        orgId,
        streamType,
        streamId,
        expectedVersion: 0,
        events: [
          newEvent('RuleCreated', { ruleId: streamId, name: 'Welcome', createdAt: 'x' }, { metadata }),
          newEvent('RuleEnabled', { ruleId: streamId, enabledAt: 'y' }, { metadata }),
        ],
      }),
    );
    const empty = stream();
    const [found, missing] = await withOrg(db.app, orgId, (trx) =>
      Promise.all([
        store.aggregateStream(trx, ruleSwitch, orgId, streamType, streamId),
        store.aggregateStream(trx, ruleSwitch, orgId, empty.streamType, empty.streamId),
      ]),
    );
    expect(found).toEqual({
      state: { status: 'enabled', ruleId: streamId, name: 'Welcome', renames: 0 },
      currentVersion: 2,
    });
    expect(missing).toEqual({ state: { status: 'absent' }, currentVersion: 0 });
  });

  it('raises ConcurrencyError with expected and actual when the stream is elsewhere', async () => {
    const ref = stream();
    const append = (expectedVersion: 'no_stream' | 'any' | number) =>
      withOrg(db.app, ref.orgId, (trx) =>
        store.append(trx, { ...ref, expectedVersion, events: [newEvent('RuleRenamed')] }),
      );
    await expect(append(1)).rejects.toMatchObject({ name: 'ConcurrencyError', expected: 1, actual: 0 });
    await append('no_stream');
    await expect(append('no_stream')).rejects.toMatchObject({ expected: 'no_stream', actual: 1 });
    await expect(append(3)).rejects.toBeInstanceOf(ConcurrencyError);
    await expect(append(1)).resolves.toMatchObject({ nextVersion: 2 });
    await expect(append('any')).resolves.toMatchObject({ nextVersion: 3 });
  });

  it('lets exactly one of two concurrent appends with the same expected version win', async () => {
    for (let round = 0; round < 5; round++) {
      const ref = stream();
      const outcomes = await Promise.allSettled(
        [1, 2].map(() =>
          withOrg(db.app, ref.orgId, (trx) =>
            store.append(trx, { ...ref, expectedVersion: 'no_stream', events: [newEvent('RuleCreated')] }),
          ),
        ),
      );
      expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
      const [lost] = outcomes.filter((outcome) => outcome.status === 'rejected');
      expect(lost?.reason).toBeInstanceOf(ConcurrencyError);
      expect(lost?.reason).toMatchObject({ expected: 'no_stream', actual: 1 });
    }
  });

  it('turns the unique index firing under a concurrent writer into ConcurrencyError, and the transaction survives', async () => {
    // The loser passes its version check before the winner commits, so only the unique index can stop it.
    const ref = stream();
    const admin = new Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    try {
      let winnerAppended!: () => void;
      const appended = new Promise<void>((resolve) => (winnerAppended = resolve));
      let loserPid = 0;
      const loserBlocked = async () => {
        for (;;) {
          const { rows } = await admin.query('select wait_event_type from pg_stat_activity where pid = $1', [
            loserPid,
          ]);
          if (rows[0]?.wait_event_type === 'Lock') return;
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      };

      const winner = withOrg(db.app, ref.orgId, async (trx) => {
        await store.append(trx, { ...ref, expectedVersion: 'no_stream', events: [newEvent('RuleCreated')] });
        winnerAppended();
        await loserBlocked(); // commit only once the loser waits on our uncommitted row
      });
      const loser = withOrg(db.app, ref.orgId, async (trx) => {
        loserPid = (await trx.raw('select pg_backend_pid() as pid')).rows[0].pid;
        await appended;
        const error = await store
          .append(trx, { ...ref, expectedVersion: 'no_stream', events: [newEvent('RuleCreated')] })
          .catch((caught: unknown) => caught);
        // The savepoint rolled back only the failed insert: the transaction can decide again.
        const retried = await store.append(trx, {
          ...ref,
          expectedVersion: 1,
          events: [newEvent('RuleEnabled')],
        });
        return { error, retried };
      });

      const [, { error, retried }] = await Promise.all([winner, loser]);
      expect(error).toBeInstanceOf(ConcurrencyError);
      expect(error).toMatchObject({ expected: 'no_stream', actual: 1 });
      expect(retried.nextVersion).toBe(2);
    } finally {
      await admin.end();
    }
  });

  it('appends without a savepoint when the caller locks the stream; a conflict still throws and aborts the transaction', async () => {
    const ref = stream();
    const savepoints: string[] = [];
    const appended = await withOrg(db.app, ref.orgId, async (trx) => {
      trx.on('query', (q: { sql: string }) => {
        if (/savepoint/i.test(q.sql)) savepoints.push(q.sql);
      });
      const first = await store.append(
        trx,
        { ...ref, expectedVersion: 'no_stream', events: [newEvent('RuleCreated'), newEvent('RuleEnabled')] },
        { streamLocked: true },
      );
      const second = await store.append(
        trx,
        { ...ref, expectedVersion: 2, events: [newEvent('RuleDisabled')] },
        { streamLocked: true },
      );
      return [first.nextVersion, second.nextVersion];
    });
    expect(appended).toEqual([2, 3]);
    expect(savepoints).toEqual([]);
    // Stale by the version check: ConcurrencyError before any insert, the transaction goes on.
    const stale = await withOrg(db.app, ref.orgId, async (trx) => {
      const error = await store
        .append(
          trx,
          { ...ref, expectedVersion: 1, events: [newEvent('RuleEnabled')] },
          { streamLocked: true },
        )
        .catch((caught: unknown) => caught);
      const after = await store.readStream(trx, ref.orgId, ref.streamType, ref.streamId);
      return { error, versions: after.map((e) => e.streamVersion) };
    });
    expect(stale.error).toBeInstanceOf(ConcurrencyError);
    expect(stale.versions).toEqual([1, 2, 3]);
    // A repeated event id: DuplicateEventError, and the whole transaction is rolled back.
    const dup = newEvent('RuleEnabled');
    await withOrg(db.app, ref.orgId, (trx) =>
      store.append(trx, { ...ref, expectedVersion: 3, events: [dup] }, { streamLocked: true }),
    );
    await expect(
      withOrg(db.app, ref.orgId, (trx) =>
        store.append(trx, { ...ref, expectedVersion: 4, events: [dup] }, { streamLocked: true }),
      ),
    ).rejects.toBeInstanceOf(DuplicateEventError);
    const events = await withOrg(db.app, ref.orgId, (trx) =>
      store.readStream(trx, ref.orgId, ref.streamType, ref.streamId),
    );
    expect(events).toHaveLength(4);
  });

  it("appends concurrently with expectedVersion 'any' without losing events", async () => {
    const ref = stream();
    await Promise.all(
      Array.from({ length: 4 }, () =>
        withOrg(db.app, ref.orgId, (trx) =>
          store.append(trx, { ...ref, expectedVersion: 'any', events: [newEvent('RuleRenamed')] }),
        ),
      ),
    );
    const versions = await withOrg(db.app, ref.orgId, (trx) =>
      store.readStream(trx, ref.orgId, ref.streamType, ref.streamId),
    );
    expect(versions.map((event) => event.streamVersion)).toEqual([1, 2, 3, 4]);
  });

  it("finds a long stream's version by reading one index entry, not the whole stream, under row-level security", async () => {
    const ref = stream();
    const LENGTH = 2_000;
    await withOrg(db.app, ref.orgId, (trx) =>
      store.append(trx, {
        ...ref,
        expectedVersion: 'no_stream',
        events: Array.from({ length: LENGTH }, () => newEvent('RuleRenamed')),
      }),
    );
    // The statements the append issues, each explained with its bindings, as the app role under the org.
    const plans = await withOrg(db.app, ref.orgId, async (trx) => {
      const issued: Array<{ sql: string; bindings: readonly unknown[] }> = [];
      const capture = (query: { sql: string; bindings?: readonly unknown[] }) =>
        issued.push({ sql: query.sql, bindings: query.bindings ?? [] });
      trx.on('query', capture);
      const result = await store.append(trx, { ...ref, expectedVersion: LENGTH, events: [newEvent('X')] });
      trx.removeListener('query', capture);
      expect(result.nextVersion).toBe(LENGTH + 1);
      const version = issued.find((q) => q.sql.includes('stream_version') && q.sql.startsWith('select'))!;
      const { rows } = await trx.raw<{ rows: Array<{ 'QUERY PLAN': unknown }> }>(
        // knex reports the statement as sent ($1, $2, ... in order); raw takes ? placeholders.
        `explain (analyze, format json) ${version.sql.replace(/\$\d+/g, '?')}`,
        version.bindings as never,
      );
      return rows[0]!['QUERY PLAN'] as Array<{ Plan: PlanNode }>;
    });
    const scans: PlanNode[] = [];
    const walk = (node: PlanNode) => {
      if (node['Node Type'].includes('Scan')) scans.push(node);
      node.Plans?.forEach(walk);
    };
    walk(plans[0]!.Plan);
    // One scan, of one row (max() under row-level security read all 2,000).
    expect(scans.map((n) => [n['Node Type'], n['Actual Rows']])).toEqual([['Index Only Scan', 1]]);
  });

  describe('tenancy', () => {
    const orgA = randomUUID();
    const orgB = randomUUID();
    const streamId = randomUUID();
    beforeAll(async () => {
      await withOrg(db.app, orgA, (trx) =>
        store.append(trx, {
          orgId: orgA,
          streamType: 'rule',
          streamId,
          expectedVersion: 'no_stream',
          events: [newEvent('RuleCreated', { secret: 'org A' })],
        }),
      );
    });

    it("hides org A's events from org B, and from a session with no org", async () => {
      const seenByB = await withOrg(db.app, orgB, (trx) => store.readStream(trx, orgA, 'rule', streamId));
      expect(seenByB).toEqual([]);
      expect(await db.app.withSchema(db.schema).table('events').select()).toEqual([]);
    });

    it('keeps streams with the same id in two orgs apart', async () => {
      const result = await withOrg(db.app, orgB, (trx) =>
        store.append(trx, {
          orgId: orgB,
          streamType: 'rule',
          streamId,
          expectedVersion: 'no_stream',
          events: [newEvent('RuleCreated', { secret: 'org B' })],
        }),
      );
      expect(result.nextVersion).toBe(1);
      const [seenByA] = await withOrg(db.app, orgA, (trx) => store.readStream(trx, orgA, 'rule', streamId));
      expect(seenByA?.data).toEqual({ secret: 'org A' });
    });

    it("refuses to append to org A's stream from org B's transaction", async () => {
      await expect(
        withOrg(db.app, orgB, (trx) =>
          store.append(trx, {
            orgId: orgA,
            streamType: 'rule',
            streamId: randomUUID(),
            expectedVersion: 'any',
            events: [newEvent('RuleCreated')],
          }),
        ),
      ).rejects.toMatchObject({ code: '42501' });
    });

    it('is append-only for the app role; the system path sees every org', async () => {
      await expect(
        withOrg(db.app, orgA, (trx) => trx('events').update({ type: 'Rewritten' })),
      ).rejects.toMatchObject({ code: '42501' });
      await expect(withOrg(db.app, orgA, (trx) => trx('events').delete())).rejects.toMatchObject({
        code: '42501',
      });

      const orgs = await withSystem(db.owner, (trx) =>
        trx('events').where({ stream_id: streamId }).orderBy('org_id').pluck('org_id'),
      );
      expect(orgs).toEqual([orgA, orgB].sort());
    });
  });

  describe('bad input never reaches the table', () => {
    const ref = stream();
    const append = (events: NewEvent[], overrides: object = {}) =>
      withOrg(db.app, ref.orgId, (trx) =>
        store.append(trx, { ...ref, expectedVersion: 'any', events, ...overrides }),
      );

    it.each([
      ['no events', [], {}],
      ['a non-uuid event id', [newEvent('X', {}, { id: 'nope' })], {}],
      ['an empty type', [newEvent('', {})], {}],
      ['missing data', [newEvent('X', {}, { data: undefined })], {}],
      ['data that is not JSON', [newEvent('X', { count: 10n })], {}],
      ['a malformed traceparent', [newEvent('X', {}, { metadata: { traceparent: 'nope' } })], {}],
      ['a negative expected version', [newEvent('X')], { expectedVersion: -1 }],
    ])('refuses %s', async (_what, events, overrides) => {
      await expect(append(events, overrides)).rejects.toBeInstanceOf(InvalidAppendError);
    });

    it('refuses an event for a catalog topic that the topic does not carry, or whose payload breaks its schema', async () => {
      const topic = 'cmis.triggers.user-actions.v1';
      await expect(append([newEvent('cmis.tenancy.org-created', {}, { topic })])).rejects.toThrow(
        /events\.0\.type: cmis\.tenancy\.org-created is not an event of cmis\.triggers\.user-actions\.v1/,
      );
      await expect(
        append([newEvent('cmis.triggers.action-tracked', { userId: 'u-1', event: '' }, { topic })]),
      ).rejects.toThrow(/events\.0\.data\.event/);
      const stored = await withOrg(db.app, ref.orgId, (trx) =>
        store.readStream(trx, ref.orgId, ref.streamType, ref.streamId),
      );
      expect(stored.filter((e) => e.topic === topic)).toEqual([]);
    });

    it('stores a catalog payload as its schema has it: unknown keys dropped, also in an action kind', async () => {
      const topic = 'cmis.rules.actions.v1';
      const data = {
        ruleId: 'rule-1',
        ruleVersion: 1,
        actionId: 'act-1',
        action: { kind: 'adjust_budget', campaignId: 'c-1', mode: 'set', amount: 100, note: 'dropped' },
        extra: 'dropped',
      };
      await append([newEvent('cmis.rules.action-requested', data, { topic })]);
      const stored = await withOrg(db.app, ref.orgId, (trx) =>
        store.readStream(trx, ref.orgId, ref.streamType, ref.streamId),
      );
      expect(stored.filter((e) => e.topic === topic).map((e) => e.data)).toEqual([
        {
          ruleId: 'rule-1',
          ruleVersion: 1,
          actionId: 'act-1',
          action: { kind: 'adjust_budget', campaignId: 'c-1', mode: 'set', amount: 100 },
        },
      ]);
      // The caller's object is left as it was.
      expect(data.action.note).toBe('dropped');
    });

    it('refuses an event id that is already stored', async () => {
      const event = newEvent('RuleCreated');
      await append([event]);
      await expect(append([event])).rejects.toBeInstanceOf(DuplicateEventError);
    });

    it('refuses to append outside a transaction', async () => {
      await expect(
        store.append(db.app as never, { ...ref, expectedVersion: 'any', events: [newEvent('X')] }),
      ).rejects.toBeInstanceOf(InvalidAppendError);
    });
  });
});
