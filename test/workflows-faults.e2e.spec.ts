// Proof under faults for the workflows service: it runs as its own process (node
// services/workflows/dist/main.js) on a Kafka broker of this test's own; 1,000 contacts abandon a
// cart (1,000 action-tracked events put straight onto the user-actions topic, 200 of them delivered
// a second time with the same envelope ids while the process is down) and go through wait 2s →
// email → wait 1s → email, while the process is killed with SIGKILL three times, each once a
// quarter of the contacts passed the stage it aims at (intake, the first burst of timers, the
// second), and restarted. Afterwards every instance completed, exactly 2,000 email requests exist
// (one per contact and email step, by idempotency key), no idempotency key has two envelope ids (a
// relay resend after a kill is the same event), and 1,000 instances started, once each. A restart
// is ready once the consumer groups rebalanced past the killed member (~30 s each): most of the
// test's ~2.5 minutes.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import {
  createCodec,
  createTopicEnvelope,
  emailRequestsTopic,
  userActionsTopic,
  workflowInstancesTopic,
  type EmailRequested,
  type EventEnvelope as Envelope,
} from '@cmis/contracts';
import {
  createScratchDatabase,
  freePort,
  ServiceProcess,
  startKafka,
  testEnv,
  uniqueName,
  type RunningKafka,
  type ScratchDatabase,
} from '@cmis/testkit';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { bearer, call as callService, pollUntil as until, sleep } from './support/retrying-client';
import { eventIdsBy, tally, TopicRecorder, withTwoIds } from './support/topic-recorder';

const ADMIN_TOKEN = 'wf-faults-e2e-admin-token-0123456789abcdef';
const CONTACTS = 1_000;
const REDELIVERED = 200;
const BATCH = 200;

const CART = {
  name: 'cart',
  entry: { event: 'cart_abandoned' },
  start: 'wait',
  steps: [
    { id: 'wait', kind: 'delay', duration: '2s', next: 'mail' },
    { id: 'mail', kind: 'send_email', templateId: 'reminder', next: 'wait2' },
    { id: 'wait2', kind: 'delay', duration: '1s', next: 'mail2' },
    { id: 'mail2', kind: 'send_email', templateId: 'reminder-2' },
  ],
  reentry: { policy: 'once' },
};

describe('workflows loses nothing and doubles nothing when killed', () => {
  const env = testEnv();
  const work = mkdtempSync(join(tmpdir(), 'cmis-wf-faults-'));
  const codec = createCodec({ registryUrl: env.schemaRegistryUrl });
  let kafka: RunningKafka;
  let database: ScratchDatabase;
  let workflows: ServiceProcess;
  let client: Kafka;
  let producer: Producer | undefined;
  let recorder: TopicRecorder | undefined;

  beforeAll(async () => {
    [kafka, database] = await Promise.all([
      startKafka(join(work, 'kafka')),
      // The process keeps its schema under its fixed name: a database of its own.
      createScratchDatabase(env.databaseUrl, 'cmis_wf_faults'),
    ]);
    // A restarted process listens once its consumer groups rebalanced past the killed member
    // (whose session must time out first): about 30 s.
    workflows = new ServiceProcess(
      'workflows',
      await freePort(),
      {
        KAFKA_BROKERS: kafka.brokers.join(','),
        SCHEMA_REGISTRY_URL: env.schemaRegistryUrl!,
        DATABASE_URL: database.url,
        REDIS_URL: env.redisUrl,
        CMIS_ADMIN_TOKEN: ADMIN_TOKEN,
        LOG_LEVEL: 'warn',
        KAFKAJS_NO_PARTITIONER_WARNING: '1',
      },
      join(work, 'workflows.log'),
      120_000,
    );
    await workflows.start();
    client = new Kafka({
      brokers: kafka.brokers,
      clientId: uniqueName('wf-faults'),
      logLevel: logLevel.NOTHING,
    });
  }, 180_000);

  afterAll(async () => {
    await recorder?.stop().catch(() => undefined);
    await producer?.disconnect().catch(() => undefined);
    await workflows?.kill('SIGTERM');
    await kafka?.stop();
    await database?.drop();
  }, 60_000);

  const call = (method: string, path: string, auth: string, body?: unknown) =>
    callService(workflows.url, method, path, bearer(auth), body);

  it('1,000 contacts through two timed emails, 200 redelivered, 3 SIGKILLs: 2,000 emails once each', async () => {
    const started = Date.now();
    const org = await call('POST', '/admin/orgs', ADMIN_TOKEN, { name: uniqueName('wff') });
    expect(org.status).toBe(201);
    const orgId = org.body.orgId as string;
    const key = (
      await call('POST', `/admin/orgs/${orgId}/keys`, ADMIN_TOKEN, {
        scopes: ['workflows:read', 'workflows:write'],
      })
    ).body.key as string;
    await until(async () => (await call('GET', '/v1/workflows', key)).status === 200, 30_000, 'the key');
    const created = await call('POST', '/v1/workflows', key, CART);
    expect(created.status).toBe(201);
    const workflowId = created.body.workflowId as string;
    const published = await call('POST', `/v1/workflows/${workflowId}/publish`, key);
    expect(published.status).toBe(201);

    recorder = new TopicRecorder(
      client,
      codec,
      [emailRequestsTopic.name, workflowInstancesTopic.name],
      `${orgId}:`,
    );
    await recorder.start();
    producer = client.producer({ allowAutoTopicCreation: false });
    await producer.connect();

    // The 1,000 abandonments, encoded as triggers would put them on the topic.
    const messages = await Promise.all(
      Array.from({ length: CONTACTS }, async (_, i) => {
        const userId = `u-${i}`;
        const id = randomUUID();
        const envelope = createTopicEnvelope(userActionsTopic.name, {
          id,
          time: new Date().toISOString(),
          source: '/cmis/workflows-faults-e2e',
          type: 'cmis.triggers.action-tracked',
          subject: userId,
          orgId,
          data: {
            userId,
            event: 'cart_abandoned',
            properties: { total: 10 + (i % 90) },
            context: {},
            messageId: id,
            timestamp: new Date().toISOString(),
            sourceId: 'wf-faults',
          },
        });
        const encoded = await codec.encode(userActionsTopic.name, envelope as Envelope);
        return { key: `${orgId}:${userId}`, value: encoded.value, headers: encoded.headers };
      }),
    );
    const publish = (batch: typeof messages) =>
      producer!.send({ topic: userActionsTopic.name, acks: -1, messages: batch });

    // Progress as committed: the instances and the step each is at (an email step is left in the
    // transaction that appends its request, so past `wait` means the first email was requested).
    const progress = async () => {
      const list = (await call('GET', `/v1/workflows/${workflowId}/instances?limit=1000`, key)).body
        .instances as Array<{ status: string; stepId?: string }>;
      return {
        entered: list.length,
        firstEmail: list.filter((i) => i.status === 'completed' || i.stepId === 'wait2').length,
        completed: list.filter((i) => i.status === 'completed').length,
      };
    };
    type Progress = Awaited<ReturnType<typeof progress>>;
    // Faults amid the work: each kill once a quarter of the contacts passed the stage it aims at
    // (intake, the first burst of timers, the second), so entries, timer firings and email
    // requests are committing when the process dies.
    const kills: string[] = [];
    const t0 = Date.now();
    const killWhen = async (
      what: string,
      ready: (p: Progress) => boolean,
      whileDown?: () => Promise<void>,
    ) => {
      let last: Progress | undefined;
      await until(
        async () => {
          last = await progress().catch(() => last);
          return last !== undefined && ready(last);
        },
        30_000,
        what,
      ).catch(() => undefined); // killed anyway; the note says where it fell
      await workflows.kill('SIGKILL');
      kills.push(`${what}: at +${Date.now() - t0} ms, last seen ${JSON.stringify(last)}`);
      await whileDown?.();
      const restarting = Date.now();
      await workflows.start();
      kills[kills.length - 1] += `, ready again after ${Date.now() - restarting} ms`;
    };
    const quarter = CONTACTS / 4;
    const chaos = (async () => {
      await killWhen(
        'kill 1 (intake)',
        (p) => p.entered >= quarter,
        // The redelivery: the first 200 again, same envelope ids, while the process is down.
        () => publish(messages.slice(0, REDELIVERED)).then(() => undefined),
      );
      await killWhen('kill 2 (first timers)', (p) => p.firstEmail >= quarter);
      await killWhen('kill 3 (second timers)', (p) => p.completed >= quarter);
    })();
    for (let b = 0; b < CONTACTS / BATCH; b += 1) {
      await publish(messages.slice(b * BATCH, (b + 1) * BATCH));
      await sleep(100);
    }
    await chaos;
    const recovered = Date.now();

    const completed = async () =>
      (
        (await call('GET', `/v1/workflows/${workflowId}/instances?status=completed&limit=1000`, key)).body
          .instances as unknown[]
      ).length;
    await until(async () => (await completed()) >= CONTACTS, 90_000, 'all instances to complete').catch(
      async (error: unknown) => {
        throw new Error(`${String(error)}; ${await completed()} completed\n${workflows.logTail()}`);
      },
    );
    const completedAfterMs = Date.now() - recovered;
    // Everything the relay still has to publish, and anything doubled, arrives by now.
    const distinctKeys = () =>
      new Set(
        recorder!.envelopes(emailRequestsTopic.name).map((e) => (e.data as EmailRequested).idempotencyKey),
      ).size;
    await until(async () => distinctKeys() >= 2 * CONTACTS, 30_000, 'the email requests').catch(
      () => undefined,
    );
    await sleep(3_000);
    await recorder.stop();

    const all = await call('GET', `/v1/workflows/${workflowId}/instances?limit=1000`, key);
    const statuses = tally((all.body.instances as Array<{ status: string }>).map((i) => i.status));
    const emailCopies = recorder.envelopes(emailRequestsTopic.name);
    const envelopesByKey = eventIdsBy(emailCopies, (e) => (e.data as EmailRequested).idempotencyKey);
    const distinctEmails = new Map(emailCopies.map((e) => [e.id, e]));
    const perContact = tally(
      [...distinctEmails.values()].map((e) => {
        const to = (e.data as EmailRequested).to;
        return to.kind === 'contact' ? to.contactId : 'not a contact';
      }),
    );
    const startedCopies = recorder
      .envelopes(workflowInstancesTopic.name)
      .filter((e) => e.type === 'cmis.workflows.instance-started');
    const startedIds = new Set(startedCopies.map((e) => e.id));
    const startedInstances = new Set(startedCopies.map((e) => (e.data as { instanceId: string }).instanceId));
    const keyShape = /^workflow:[^:]+:(mail|mail2):1$/;
    const counts = {
      kills,
      unexpectedExits: workflows.unexpectedExits,
      instances: Object.fromEntries(statuses),
      emails: {
        messages: emailCopies.length,
        envelopeIds: distinctEmails.size,
        idempotencyKeys: envelopesByKey.size,
        resentCopies: emailCopies.length - distinctEmails.size,
        keysWithTwoEnvelopeIds: withTwoIds(envelopesByKey),
        contacts: perContact.size,
        contactsWithMoreThanTwo: [...perContact.values()].filter((n) => n > 2).length,
        byStep: Object.fromEntries(
          tally([...envelopesByKey.keys()].map((k) => k.match(keyShape)?.[1] ?? `odd key ${k}`)),
        ),
      },
      instanceStarted: {
        messages: startedCopies.length,
        envelopeIds: startedIds.size,
        instances: startedInstances.size,
      },
      completedAfterLastRestartMs: completedAfterMs,
      durationMs: Date.now() - started,
    };
    console.log(`workflows fault test counts: ${JSON.stringify(counts, null, 2)}`);

    expect(kills).toHaveLength(3);
    expect(counts.unexpectedExits).toBe(0);
    expect(counts.instances).toEqual({ completed: CONTACTS });
    // One email request per contact and email step, each one event (copies share its id).
    expect(counts.emails.idempotencyKeys).toBe(2 * CONTACTS);
    expect(counts.emails.envelopeIds).toBe(2 * CONTACTS);
    expect(counts.emails.keysWithTwoEnvelopeIds).toBe(0);
    expect(counts.emails.byStep).toEqual({ mail: CONTACTS, mail2: CONTACTS });
    expect(counts.emails.contacts).toBe(CONTACTS);
    expect(counts.emails.contactsWithMoreThanTwo).toBe(0);
    // Every instance started once: the redelivered 200 entered nobody a second time.
    expect(counts.instanceStarted.envelopeIds).toBe(CONTACTS);
    expect(counts.instanceStarted.instances).toBe(CONTACTS);
    // Each email's key names its instance, and that instance is one that started.
    for (const k of envelopesByKey.keys()) expect(startedInstances.has(k.split(':')[1]!)).toBe(true);
  }, 240_000);
});
