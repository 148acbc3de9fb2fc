// Broadcasts to a static audience: paced sending, an A/B test whose winner (by human clicks) goes
// to the rest, pause and resume, and the complaint-rate policy pausing a broadcast by itself; an
// audience following an analytics segment, sent to its members at the start.
import type { RunningServiceProcess } from '@cmis/platform';
import { emailCampaignsTopic, segmentEventsTopic } from '@cmis/contracts';
import { uniqueName, waitForMessages } from '@cmis/testkit';
import {
  client,
  identify,
  newOrg,
  publish,
  startEmail,
  startSmtpSink,
  until,
  type Json,
  type SmtpSink,
} from '../testing/support';

describe('broadcasts', () => {
  let sink: SmtpSink;
  let proc: RunningServiceProcess;
  let call: ReturnType<typeof client>;

  beforeAll(async () => {
    sink = await startSmtpSink();
    proc = await startEmail(sink, { tracking: { minHumanClickDelayMs: 10 } });
    call = client(proc.url);
  });
  afterAll(async () => {
    await proc?.shutdown();
    await sink?.close();
  });

  const audience = async (key: string, addresses: string[]) =>
    (
      await call('POST', '/v1/audiences', {
        bearer: key,
        body: { name: 'spec list', members: addresses.map((address) => ({ address })) },
      })
    ).body.audienceId as string;
  const broadcast = async (key: string, id: string) =>
    (await call('GET', `/v1/broadcasts/${id}`, { bearer: key })).body;

  it('sends the test share both variants, decides the winner on human clicks, and sends the rest the winner', async () => {
    const { key } = await newOrg(proc);
    const tag = uniqueName('ab');
    const addresses = Array.from({ length: 60 }, (_, i) => `${tag}-${i}@example.com`);
    const audienceId = await audience(key, addresses);
    const created = await call('POST', '/v1/broadcasts', {
      bearer: key,
      body: {
        name: 'Spring sale',
        audienceId,
        content: {
          kind: 'inline',
          subject: 'Sale',
          html: '<p><a href="https://shop.example.com/sale">Shop</a></p>',
        },
        abTest: {
          variants: [
            { variantId: 'a', subject: 'Spring sale' },
            { variantId: 'b', subject: 'Our spring sale starts now' },
          ],
          testShare: 0.5,
          decideAfterMinutes: 0.1,
          metric: 'clicks',
          minSamplePerVariant: 5,
        },
      },
    });
    expect(created.status).toBe(201);
    const id = created.body.broadcastId as string;
    expect((await call('POST', `/v1/broadcasts/${id}/start`, { bearer: key })).body.status).toBe('sending');
    expect((await call('POST', `/v1/broadcasts/${id}/start`, { bearer: key })).status).toBe(409);
    const testing = await until(
      () => broadcast(key, id),
      (b) => b.status === 'testing' && (b.messages.sent ?? 0) === b.requested,
      { timeoutMs: 20_000 },
    );
    const testShare = testing.requested as number;
    expect(testShare).toBeGreaterThan(15);
    expect(testShare).toBeLessThan(45);
    // Everyone who got variant b clicks; nobody who got a does.
    const ofTag = sink.received.filter((m) => m.recipients[0]!.startsWith(tag));
    const b = ofTag.filter((m) => m.parsed.subject === 'Our spring sale starts now');
    expect(b.length).toBeGreaterThanOrEqual(5);
    expect(ofTag.length - b.length).toBeGreaterThanOrEqual(5);
    for (const mail of b) {
      const link = /href="([^"]+\/t\/c\/[^"]+)"/.exec(mail.parsed.html as string)![1]!;
      expect(
        (
          await fetch(link, {
            redirect: 'manual',
            headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux) Firefox/133.0' },
          })
        ).status,
      ).toBe(302);
    }
    const done = await until(
      () => broadcast(key, id),
      (x) => x.status === 'completed',
      { timeoutMs: 30_000 },
    );
    expect(done.winnerVariantId).toBe('b');
    expect(done.requested).toBe(60);
    await until(
      () => Promise.resolve(sink.received.filter((m) => m.recipients[0]!.startsWith(tag)).length),
      (n) => n === 60,
    );
    const rest = sink.received.filter((m) => m.recipients[0]!.startsWith(tag)).slice(testShare);
    expect(new Set(rest.map((m) => m.parsed.subject))).toEqual(new Set(['Our spring sale starts now']));
    // Each recipient once.
    expect(
      new Set(sink.received.filter((m) => m.recipients[0]!.startsWith(tag)).map((m) => m.recipients[0])).size,
    ).toBe(60);
  });

  it('pauses itself when its complaint rate passes 0.3%, and publishes why', async () => {
    const { orgId, key } = await newOrg(proc);
    await call('PUT', '/v1/settings', {
      bearer: key,
      body: { webhooks: { postmark: { user: 'pm', password: 'postmark-secret' } } },
    });
    const tag = uniqueName('spam');
    const audienceId = await audience(
      key,
      Array.from({ length: 40 }, (_, i) => `${tag}-${i}@example.com`),
    );
    const { broadcastId } = (
      await call('POST', '/v1/broadcasts', {
        bearer: key,
        body: {
          name: 'Slow one',
          audienceId,
          perMinute: 300,
          complaintPauseMinSent: 5,
          content: { kind: 'inline', subject: 'Hello', text: 'Hello' },
        },
      })
    ).body as { broadcastId: string };
    await call('POST', `/v1/broadcasts/${broadcastId}/start`, { bearer: key });
    const sent = await until(
      () => call('GET', `/v1/messages?status=sent&limit=500`, { bearer: key }),
      (r) => (r.body.messages as Json[]).length >= 6,
      { timeoutMs: 20_000 },
    );
    const complained = (sent.body.messages as Json[])[0]!;
    const auth = `Basic ${Buffer.from('pm:postmark-secret').toString('base64')}`;
    const report = await call('POST', `/webhooks/${orgId}/postmark`, {
      headers: { authorization: auth },
      body: {
        RecordType: 'SpamComplaint',
        Email: complained.address,
        Metadata: { cmis_message_id: complained.messageId },
      },
    });
    expect(report.body.applied).toBe(1);
    const paused = await until(
      () => broadcast(key, broadcastId),
      (b) => b.status === 'paused',
      { timeoutMs: 20_000 },
    );
    expect(paused.pausedReason).toMatch(/^complaint rate \d+\.\d\d% passed 0\.3%/);
    expect(paused.requested).toBeLessThan(40);
    const requested = paused.requested as number;
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await broadcast(key, broadcastId)).requested).toBe(requested);
    // Why it stopped is on the campaigns topic, for analytics and whoever watches.
    const events = await waitForMessages({
      topic: emailCampaignsTopic.name,
      count: 2,
      predicate: (m) => m.key === `${orgId}:${broadcastId}`,
    });
    const decoded = await Promise.all(
      events.map((m) =>
        proc.platform.codec.decode(emailCampaignsTopic.name, { value: m.value, headers: m.headers }),
      ),
    );
    expect(decoded.map((e) => [e.type, (e.data as Json).by])).toEqual([
      ['cmis.email.broadcast-started', undefined],
      ['cmis.email.broadcast-paused', 'policy'],
    ]);
  });

  it('follows a segment: entered contacts are members, an exited one is not sent to', async () => {
    const { orgId, key } = await newOrg(proc);
    const segmentId = uniqueName('seg');
    const bad = await call('POST', '/v1/audiences', {
      bearer: key,
      body: { name: 'both', segmentId, members: [{ address: 'x@example.com' }] },
    });
    expect(bad.status).toBe(400);
    const created = await call('POST', '/v1/audiences', { bearer: key, body: { name: 'VIPs', segmentId } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ size: 0, segmentId });
    const audienceId = created.body.audienceId as string;
    const tag = uniqueName('segaud');
    const contacts = ['ann', 'ben', 'cat'].map((n) => `${tag}-${n}`);
    for (const c of contacts) await identify(proc, orgId, c, { email: `${c}@example.com` });
    for (const c of contacts)
      await until(
        () => call('GET', `/v1/contacts/${c}`, { bearer: key }),
        (r) => r.status === 200 && r.body.address !== undefined,
      );
    const segmentEvent = (contactId: string, type: 'entered' | 'exited') =>
      publish(proc, segmentEventsTopic.name, orgId, contactId, `cmis.analytics.segment-${type}`, {
        segmentId,
        segmentVersion: 1,
        contactId,
        ...(type === 'exited' ? { reason: 'spec' } : {}),
      });
    const sizeIs = (n: number) =>
      until(
        () => call('GET', `/v1/audiences/${audienceId}`, { bearer: key }),
        (r) => r.body.size === n,
        { timeoutMs: 20_000 },
      );
    for (const c of contacts) await segmentEvent(c, 'entered');
    // The same contact entering twice is one member.
    await segmentEvent(contacts[0]!, 'entered');
    await sizeIs(3);
    await segmentEvent(contacts[2]!, 'exited');
    await sizeIs(2);
    const { broadcastId } = (
      await call('POST', '/v1/broadcasts', {
        bearer: key,
        body: { name: 'VIP news', audienceId, content: { kind: 'inline', subject: 'VIP', text: 'Hi' } },
      })
    ).body as { broadcastId: string };
    await call('POST', `/v1/broadcasts/${broadcastId}/start`, { bearer: key });
    const done = await until(
      () => broadcast(key, broadcastId),
      (b) => b.status === 'completed' && (b.messages.sent ?? 0) === 2,
      { timeoutMs: 20_000 },
    );
    expect(done.requested).toBe(2);
    await until(
      () => Promise.resolve(sink.received.filter((m) => m.recipients[0]!.startsWith(tag)).length),
      (n) => n === 2,
    );
    expect(
      sink.received
        .filter((m) => m.recipients[0]!.startsWith(tag))
        .map((m) => m.recipients[0])
        .sort(),
    ).toEqual([`${contacts[0]}@example.com`, `${contacts[1]}@example.com`]);
  });
});
