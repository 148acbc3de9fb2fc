import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { userActionsTopic } from '@cmis/contracts';
import type { RunningServiceProcess } from '@cmis/platform';
import { startKafka, uniqueName, type RunningKafka } from '@cmis/testkit';
import { Kafka, logLevel } from 'kafkajs';
import { client, createOrgWithSource, messagesNow, startTriggers, type TestOrg } from '../testing/support';

/**
 * The broker goes away under a publish. A 2xx is only ever the answer for a stored event: a retry
 * made while the first attempt is still under way is told 503 with Retry-After (not "duplicate"),
 * and a client that retries until a 2xx finds its event on the topic exactly once.
 */
describe('ingest while the broker is stopped and restarted (its own broker)', () => {
  let kafka: RunningKafka;
  let proc: RunningServiceProcess;
  let org: TestOrg;

  beforeAll(async () => {
    kafka = await startKafka(mkdtempSync(join(tmpdir(), 'cmis-outage-')));
    proc = await startTriggers({}, uniqueName('trg'), kafka.brokers);
    org = await createOrgWithSource(proc.url);
  }, 120_000);
  afterAll(async () => {
    await proc?.shutdown();
    await kafka?.stop();
  });

  const track = (messageId: string, user: string) =>
    client(proc.url)('POST', '/v1/track', {
      writeKey: org.source.writeKey,
      body: { userId: user, event: 'Outage Survived', messageId },
    });

  it('never answers 2xx for an event that is not stored; retried until 2xx, it is stored once', async () => {
    const messageId = randomUUID();
    const user = `u-${randomUUID()}`;
    await kafka.stop();
    const first = track(messageId, user); // under way: its publish waits on the absent broker
    const statuses: number[] = [];
    // A retry while the first is in flight: its claim is still pending after the wait, so 503.
    const concurrent = await track(messageId, user);
    expect(concurrent.status).toBe(503);
    expect(concurrent.headers.get('retry-after')).toBe('1');
    expect(concurrent.headers.get('content-type')).toContain('application/problem+json');
    statuses.push(concurrent.status);

    await kafka.restart();
    statuses.push((await first).status);
    // The client's loop: the same messageId until a 2xx.
    const deadline = Date.now() + 90_000;
    while (statuses.at(-1)! >= 300 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      statuses.push((await track(messageId, user)).status);
    }
    expect(statuses.at(-1)).toBe(200);
    for (const status of statuses) expect([200, 503]).toContain(status);

    const reader = new Kafka({
      brokers: kafka.brokers,
      clientId: uniqueName('read'),
      logLevel: logLevel.NOTHING,
    });
    const stored = await messagesNow(userActionsTopic.name, `${org.orgId}:${user}`, reader);
    expect(stored.map((m) => m.envelope.data.messageId)).toEqual([messageId]);
    // Once stored, a retry is a duplicate (200) and publishes nothing more.
    expect((await track(messageId, user)).status).toBe(200);
    expect(await messagesNow(userActionsTopic.name, `${org.orgId}:${user}`, reader)).toHaveLength(1);
  }, 180_000);
});
