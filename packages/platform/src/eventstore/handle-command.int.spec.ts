import { randomUUID } from 'node:crypto';
import { createDatabase, withOrg, type Database } from '../db';
import { dropDatabase, freshSchemaName, TEST_DATABASE_URL } from '../db/testing';
import { ConcurrencyError } from './errors';
import { createEventStore, type EventStore } from './event-store';
import { RuleNotFoundError, ruleSwitch, type RuleSwitchCommand } from './fixtures/rule-switch';
import { handleCommand } from './handle-command';
import { eventStoreMigrations } from './migrations';

const now = new Date('2025-03-01T09:30:00.000Z');
const metadata = { now, correlationId: 'corr-1', actor: 'user:marketer-7' };
const create = (ruleId: string): RuleSwitchCommand => ({
  type: 'CreateRule',
  data: { ruleId, name: 'Welcome' },
  metadata,
});
const rename = (ruleId: string, name: string): RuleSwitchCommand => ({
  type: 'RenameRule',
  data: { ruleId, name },
  metadata,
});

/** A store whose first `count` loads wait for each other, so their commands decide on the same version. */
function withSimultaneousLoads(store: EventStore, count: number): EventStore {
  let waiting = 0;
  let release!: () => void;
  const allLoaded = new Promise<void>((resolve) => (release = resolve));
  return {
    ...store,
    async aggregateStream(...args: Parameters<EventStore['aggregateStream']>) {
      const result = await store.aggregateStream(...args);
      if (waiting < count) {
        waiting += 1;
        if (waiting === count) release();
        await allLoaded;
      }
      return result;
    },
  } as EventStore;
}

describe('handleCommand (Postgres)', () => {
  let db: Database;
  let store: EventStore;
  beforeAll(async () => {
    db = createDatabase({ url: TEST_DATABASE_URL, schema: freshSchemaName('cmd') });
    await db.migrate(eventStoreMigrations);
    store = createEventStore(db);
  });
  afterAll(() => dropDatabase(db));

  const ruleStream = (orgId: string, ruleId: string) => ({ orgId, streamType: 'rule', streamId: ruleId });

  it('loads, decides, appends, and publishes where told', async () => {
    const orgId = randomUUID();
    const ruleId = randomUUID();
    const eventId = randomUUID();
    const result = await withOrg(db.app, orgId, (trx) =>
      handleCommand(store, trx, ruleSwitch, ruleStream(orgId, ruleId), create(ruleId), {
        topic: 'cmis.rules.rule-changes.v1',
        newEventId: () => eventId,
        now: () => now,
      }),
    );
    expect(result).toMatchObject({
      nextVersion: 1,
      newState: { status: 'disabled', ruleId, name: 'Welcome' },
      newEvents: [{ type: 'RuleCreated' }],
    });

    const [stored] = await withOrg(db.app, orgId, (trx) => store.readStream(trx, orgId, 'rule', ruleId));
    expect(stored).toMatchObject({
      id: eventId,
      type: 'RuleCreated',
      data: { ruleId, name: 'Welcome', createdAt: now.toISOString() },
      metadata: { correlationId: 'corr-1', actor: 'user:marketer-7' },
      topic: 'cmis.rules.rule-changes.v1',
      key: `${orgId}:${ruleId}`,
      occurredAt: now,
    });
  });

  it('appends nothing when the decider decides nothing, and lets domain errors through', async () => {
    const orgId = randomUUID();
    const ruleId = randomUUID();
    const disable: RuleSwitchCommand = { type: 'DisableRule', data: { ruleId, reason: 'done' }, metadata };
    await expect(
      withOrg(db.app, orgId, (trx) =>
        handleCommand(store, trx, ruleSwitch, ruleStream(orgId, ruleId), disable),
      ),
    ).rejects.toBeInstanceOf(RuleNotFoundError);

    await withOrg(db.app, orgId, (trx) =>
      handleCommand(store, trx, ruleSwitch, ruleStream(orgId, ruleId), create(ruleId)),
    );
    const again = await withOrg(db.app, orgId, (trx) =>
      handleCommand(store, trx, ruleSwitch, ruleStream(orgId, ruleId), disable),
    );
    expect(again).toMatchObject({ newEvents: [], nextVersion: 1, positions: [] });
  });

  it('decides again on fresh state when a concurrent command wins the race', async () => {
    const orgId = randomUUID();
    const ruleId = randomUUID();
    await withOrg(db.app, orgId, (trx) =>
      handleCommand(store, trx, ruleSwitch, ruleStream(orgId, ruleId), create(ruleId)),
    );
    const racing = withSimultaneousLoads(store, 2);

    const results = await Promise.all(
      ['Welcome v2', 'Welcome v3'].map((name) =>
        withOrg(db.app, orgId, (trx) =>
          handleCommand(racing, trx, ruleSwitch, ruleStream(orgId, ruleId), rename(ruleId, name)),
        ),
      ),
    );

    expect(results.map((result) => result.nextVersion).sort()).toEqual([2, 3]);
    const last = results.find((result) => result.nextVersion === 3);
    expect(last?.newState).toMatchObject({ renames: 2 }); // it saw the winner's rename
  });

  it('gives up with ConcurrencyError once the retries are spent', async () => {
    const orgId = randomUUID();
    const ruleId = randomUUID();
    await withOrg(db.app, orgId, (trx) =>
      handleCommand(store, trx, ruleSwitch, ruleStream(orgId, ruleId), create(ruleId)),
    );
    const racing = withSimultaneousLoads(store, 2);

    const outcomes = await Promise.allSettled(
      ['Welcome v2', 'Welcome v3'].map((name) =>
        withOrg(db.app, orgId, (trx) =>
          handleCommand(racing, trx, ruleSwitch, ruleStream(orgId, ruleId), rename(ruleId, name), {
            maxRetries: 0,
          }),
        ),
      ),
    );

    expect(outcomes.map((outcome) => outcome.status).sort()).toEqual(['fulfilled', 'rejected']);
    const lost = outcomes.find((outcome) => outcome.status === 'rejected');
    expect(lost?.reason).toBeInstanceOf(ConcurrencyError);
  });
});
