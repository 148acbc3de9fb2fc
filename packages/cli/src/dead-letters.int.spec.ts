import { createCodec, createTopicEnvelope, newEventId, userActionsTopic } from '@cmis/contracts';
import {
  createDatabase,
  createKafkaBus,
  ensureCatalogTopics,
  platformMigrations,
  PoisonMessageError,
  startInbox,
  type Bus,
  type Database,
  type Subscription,
} from '@cmis/platform';
import { throwawayOrg, uniqueName, uniqueSchema, until } from '@cmis/testkit';
import { listDeadLetters, replayDeadLetters } from './dead-letters';
import { infraEnv, runCli } from './spec-support';

const TOPIC = userActionsTopic.name;

describe('cmis dead-letters: list what a consumer refused, replay it after the fix, once', () => {
  const env = infraEnv();
  const codec = createCodec({ registryUrl: env.SCHEMA_REGISTRY_URL });
  let bus: Bus;
  let db: Database;
  let inbox: Subscription;
  const groupId = uniqueName('cli-dlq-consumer');
  const { orgId } = throwawayOrg();
  // The consumer's bug: it refuses "Plan Changed" until fixed.
  let fixed = false;
  const handled: string[] = [];

  beforeAll(async () => {
    bus = createKafkaBus({ brokers: env.KAFKA_BROKERS.split(','), clientId: uniqueName('cli-dlq') });
    await ensureCatalogTopics(bus);
    db = createDatabase({ url: env.DATABASE_URL, schema: uniqueSchema('cli_dlq') });
    await db.migrate(platformMigrations);
    inbox = await startInbox({
      bus,
      db,
      codec,
      groupId,
      topics: [TOPIC],
      concerns: (m) => m.key?.startsWith(`${orgId}:`) ?? false,
      async handle({ envelope }, { trx }) {
        if (!fixed && (envelope.data as { event: string }).event === 'Plan Changed')
          throw new PoisonMessageError('no handler for Plan Changed');
        // Counted once committed: a batch holding the refused event rolls back and is applied
        // again without it, so the good one's first handling never happened.
        trx.executionPromise.then(
          () => handled.push(envelope.id),
          () => undefined,
        );
      },
    });
  });
  afterAll(async () => {
    await inbox?.stop();
    await bus?.close();
    await db?.destroy();
  });

  const track = async (event: string) => {
    const envelope = createTopicEnvelope(TOPIC, {
      type: 'cmis.triggers.action-tracked',
      id: newEventId(),
      time: new Date().toISOString(),
      source: '/cmis/cli-spec',
      subject: 'contact-1',
      orgId,
      data: {
        userId: 'contact-1',
        event,
        properties: {},
        context: {},
        messageId: newEventId(),
        timestamp: new Date().toISOString(),
        sourceId: 'src-1',
      },
    });
    const encoded = await codec.encode(TOPIC, envelope);
    await bus.publish(TOPIC, [
      {
        key: userActionsTopic.key({ orgId, subject: 'contact-1' }),
        value: encoded.value,
        headers: encoded.headers,
      },
    ]);
    return envelope.id;
  };

  it('lists the dead letters, replays the fixed one once, never twice, and reports the one still bad', async () => {
    const good = await track('Signed Up');
    const refused = await track('Plan Changed');
    // Not a CloudEvent at all: it fails the topic's contract now and after any handler fix.
    await bus.publish(TOPIC, [{ key: `${orgId}:contact-1`, value: Buffer.from('{"not":"an event"}') }]);

    const letters = await until(
      () => listDeadLetters(env, { topic: TOPIC, orgId }),
      (l) => l.some((x) => x.eventId === refused) && l.some((x) => x.eventId === null),
    );
    await until(
      async () => handled,
      (h) => h.length > 0,
    );
    expect(handled).toEqual([good]);
    // The undecodable one is refused as it arrives; a retried batch may refuse it again.
    const undecodable = letters.filter((l) => l.eventId === null);
    expect(letters.filter((l) => l.eventId === refused)).toHaveLength(1);
    expect(letters).toHaveLength(1 + undecodable.length);
    expect(new Set(letters.map((l) => `${l.consumerGroup} ${l.originalTopic}`))).toEqual(
      new Set([`${groupId} ${TOPIC}`]),
    );
    const refusedLetter = letters.find((l) => l.eventId === refused)!;
    expect(refusedLetter).toMatchObject({
      reason: 'no handler for Plan Changed',
      eventType: 'cmis.triggers.action-tracked',
      orgId,
      replayedAt: null,
    });
    expect(refusedLetter.originalOffset).toMatch(/^\d+$/);

    const dry = await replayDeadLetters(env, { topic: TOPIC, all: true, orgId, dryRun: true });
    expect(dry.published.map((p) => p.eventId)).toEqual([refused]);
    expect((await listDeadLetters(env, { topic: TOPIC, orgId })).every((l) => l.replayedAt === null)).toBe(
      true,
    );

    fixed = true;
    const replay = await replayDeadLetters(env, { topic: TOPIC, all: true, orgId });
    expect(replay.published).toEqual([
      { id: refusedLetter.id, eventId: refused, eventType: 'cmis.triggers.action-tracked', orgId },
    ]);
    expect(replay.failing.map((f) => f.id)).toEqual(undecodable.map((l) => l.id));
    await until(
      async () => handled,
      (h) => h.includes(refused),
    );

    const second = await replayDeadLetters(env, { topic: TOPIC, all: true, orgId });
    expect(second.published).toEqual([]);
    expect(second.failing).toHaveLength(undecodable.length);
    const byId = await replayDeadLetters(env, { topic: TOPIC, ids: [refusedLetter.id] });
    expect(byId.published).toEqual([]);
    expect(byId.alreadyReplayed.map((a) => a.id)).toEqual([refusedLetter.id]);

    // A record re-published again (as a lost marker would cause) is one the inbox took already.
    await bus.publish(TOPIC, [
      {
        key: refusedLetter.record.key!,
        value: refusedLetter.record.value!,
        headers: refusedLetter.record.headers,
      },
    ]);
    await track('Marker');
    await until(
      async () => handled.length,
      (n) => n === 3,
    );
    await new Promise((r) => setTimeout(r, 500));
    expect(handled.filter((id) => id === refused)).toHaveLength(1);
  });

  it('runs as the binary: a table, --json, and exit 2 for an unknown topic or a replay without --id/--all', async () => {
    const table = await runCli(['dead-letters', 'list', '--topic', TOPIC, '--org', orgId], env);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(
      /^ID\s+AT\s+ORG\s+EVENT TYPE\s+ORIGINAL\s+GROUP\s+REPLAYED\s+ERROR$/,
    );
    expect(table.stdout).toContain('no handler for Plan Changed');

    const json = await runCli(
      ['dead-letters', 'list', '--topic', `${TOPIC}.dlq`, '--org', orgId, '--json', '--limit', '1'],
      env,
    );
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toHaveLength(1);

    const again = await runCli(['dead-letters', 'replay', '--topic', TOPIC, '--all', '--org', orgId], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^re-published 0 to cmis\.triggers\.user-actions\.v1$/m);
    expect(again.stdout).toMatch(/^still failing the contract, not published \(\d+\):$/m);

    const unknown = await runCli(['dead-letters', 'list', '--topic', 'cmis.nope.things.v1'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^cmis: unknown topic: cmis\.nope\.things\.v1/);
    expect((await runCli(['dead-letters', 'replay', '--topic', TOPIC], env)).code).toBe(2);
    expect((await runCli(['dead-letters', 'list'], env)).code).toBe(2);
    const down = await runCli(['dead-letters', 'list', '--topic', TOPIC], { KAFKA_BROKERS: '127.0.0.1:1' });
    expect(down.code).toBe(1);
  });
});
