// The email service on Kafka, the schema registry, Postgres and Redis, sending to a real SMTP
// server on loopback: requests by event and by API, what the recipient's server receives (DKIM
// that verifies, List-Unsubscribe headers, tracked links), idempotency, deferrals and bounces,
// tracking, unsubscribe, suppression, templates, policy and bad input.
import { generateKeyPairSync } from 'node:crypto';
import { emailMessagesTopic, emailRequestsTopic, type EmailRequested } from '@cmis/contracts';
import { servedRoutes, undocumentedRoutes, type RunningServiceProcess } from '@cmis/platform';
import { uniqueName, waitForMessages } from '@cmis/testkit';
import { dkimVerify } from 'mailauth/lib/dkim/verify';
import {
  client,
  identify,
  newOrg,
  publish,
  rawHeader,
  startEmail,
  startSmtpSink,
  until,
  type Json,
  type SmtpSink,
} from './testing/support';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const DKIM = {
  domainName: 'mail.acme.test',
  keySelector: 'cmis2026',
  privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
};
const DKIM_TXT = `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;

describe('email service', () => {
  let sink: SmtpSink;
  let proc: RunningServiceProcess;
  let call: ReturnType<typeof client>;

  beforeAll(async () => {
    sink = await startSmtpSink();
    // A click this long after the send is a person's (the default window is seconds).
    proc = await startEmail(sink, {
      worker: { intervalMs: 100, leaseMs: 2_000 },
      tracking: { minHumanClickDelayMs: 50 },
    });
    call = client(proc.url);
  });
  afterAll(async () => {
    await proc?.shutdown();
    await sink?.close();
  });

  const settingsFor = (key: string, settings: Json) =>
    call('PUT', '/v1/settings', { bearer: key, body: settings });
  const message = async (key: string, messageId: string) =>
    (await call('GET', `/v1/messages/${messageId}`, { bearer: key })).body;
  const statusIs = (key: string, messageId: string, status: string) =>
    until(
      () => message(key, messageId),
      (m) => m.status === status,
      { timeoutMs: 20_000 },
    );
  const send = (key: string, idempotencyKey: string, body: Json) =>
    call('POST', '/v1/messages', { bearer: key, body, headers: { 'idempotency-key': idempotencyKey } });
  const knownContact = async (key: string, contactId: string) =>
    until(
      () => call('GET', `/v1/contacts/${contactId}`, { bearer: key }),
      (r) => r.status === 200 && r.body.address !== undefined,
    );
  const welcome = {
    name: 'Welcome',
    kind: 'template',
    content: {
      subject: 'Welcome, {{ contact.name }}',
      mjml: true,
      html: `<mjml><mj-head><mj-style inline="inline">.note { color: #336699; }</mj-style></mj-head><mj-body><mj-section><mj-column>
        <mj-text css-class="note">Hi {{ contact.name }}, your plan is {{ contact.plan }}.</mj-text>
        <mj-button href="https://shop.acme.test/start?a=1&amp;b=2">Start</mj-button>
        <mj-text>{% unsubscribe_link "Unsubscribe" %}</mj-text>
      </mj-column></mj-section></mj-body></mjml>`,
    },
  };

  it('sends a templated email requested by event: DKIM verifies, List-Unsubscribe is signed, links are tracked', async () => {
    const { orgId, key } = await newOrg(proc);
    expect(
      (await settingsFor(key, { from: { address: 'news@mail.acme.test', name: 'Acme' }, dkim: DKIM })).status,
    ).toBe(200);
    expect((await call('PUT', '/v1/templates/welcome', { bearer: key, body: welcome })).status).toBe(201);
    const contactId = uniqueName('ada');
    const address = `${contactId}@example.com`;
    await identify(proc, orgId, contactId, { email: address, name: 'Ada Lovelace', plan: 'pro' });
    await knownContact(key, contactId);

    const request: EmailRequested = {
      idempotencyKey: uniqueName('welcome'),
      to: { kind: 'contact', contactId },
      content: { kind: 'template', templateId: 'welcome' },
      data: {},
      origin: { kind: 'workflow', id: 'wf-1', version: 2, stepId: 'welcome-email', instanceId: 'inst-1' },
    };
    // Published twice (a producer's retry): one message, one email.
    await publish(proc, emailRequestsTopic.name, orgId, contactId, 'cmis.email.send-requested', request);
    await publish(proc, emailRequestsTopic.name, orgId, contactId, 'cmis.email.send-requested', request);
    const mail = (
      await until(
        () => Promise.resolve(sink.for(address)),
        (m) => m.length >= 1,
      )
    )[0]!;
    const listed = await until(
      () => call('GET', `/v1/messages?contactId=${contactId}`, { bearer: key }),
      (r) => r.body.messages?.[0]?.status === 'sent',
    );
    expect(listed.body.messages).toHaveLength(1);
    const sent = await message(key, listed.body.messages[0].messageId as string);
    expect(sent).toMatchObject({
      templateId: 'welcome',
      templateVersion: 1,
      subject: 'Welcome, Ada Lovelace',
    });
    expect(sent.events.map((e: Json) => e.type)).toEqual([
      'cmis.email.message-requested',
      'cmis.email.message-rendered',
      'cmis.email.message-sent',
    ]);

    // What the recipient's server got.
    expect(mail.parsed.messageId).toBe(`<${sent.messageId}@mail.acme.test>`);
    expect(mail.envelopeFrom).toMatch(/^bounces\+.+@bounces\.cmis\.localhost$/);
    expect(mail.parsed.subject).toBe('Welcome, Ada Lovelace');
    expect(rawHeader(mail.raw, 'list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
    const listUnsubscribe = rawHeader(mail.raw, 'list-unsubscribe')!;
    expect(listUnsubscribe).toMatch(
      new RegExp(
        `^<${proc.url}/u/[A-Za-z0-9_-]+>, <mailto:unsubscribe\\+[A-Za-z0-9_-]+@bounces\\.cmis\\.localhost>`,
      ),
    );
    const html = mail.parsed.html as string;
    expect(html).not.toContain('<mj-');
    expect(html).toMatch(/style="[^"]*color: ?#336699/);
    expect(html).not.toContain('https://shop.acme.test/start');
    expect(html).toMatch(new RegExp(`${proc.url}/t/c/[A-Za-z0-9_-]+`));
    expect(html).toMatch(new RegExp(`<img[^>]+src="${proc.url}/t/o/[A-Za-z0-9_-]+"`));
    expect(mail.parsed.text).toContain('Hi Ada Lovelace, your plan is pro.');

    const dkim = await dkimVerify(mail.raw, {
      resolver: async (name: string, type: string) => {
        if (type === 'TXT' && name === `${DKIM.keySelector}._domainkey.${DKIM.domainName}`)
          return [[DKIM_TXT]];
        throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
      },
    });
    expect(dkim.results[0]?.status.result).toBe('pass');
    const signature = rawHeader(mail.raw, 'dkim-signature')!;
    const signed = /(?:^|;)\s*h=([^;]+)/.exec(signature.replace(/\s+/g, ''))![1]!.toLowerCase().split(':');
    expect(signed).toEqual(
      expect.arrayContaining(['list-unsubscribe', 'list-unsubscribe-post', 'from', 'subject']),
    );

    // The events are on the registry-encoded result topic.
    const onTopic = await waitForMessages({
      topic: emailMessagesTopic.name,
      count: 3,
      predicate: (m) => m.key === `${orgId}:${contactId}`,
    });
    const decoded = await Promise.all(
      onTopic.map((m) =>
        proc.platform.codec.decode(emailMessagesTopic.name, { value: m.value, headers: m.headers }),
      ),
    );
    expect(onTopic[0]!.value![0]).toBe(0); // Confluent wire format: magic byte
    expect(decoded.map((e) => e.type)).toEqual([
      'cmis.email.message-requested',
      'cmis.email.message-rendered',
      'cmis.email.message-sent',
    ]);
    expect(decoded[2]!.data as Json).toMatchObject({ origin: request.origin, contactId, address });
  });

  it('tracks a human click to the rendered link only; a forged or altered token gets 404 and records nothing', async () => {
    const { key } = await newOrg(proc);
    const address = `${uniqueName('bob')}@example.com`;
    const sent = await send(key, 'click-1', {
      to: { kind: 'address', address },
      content: {
        kind: 'inline',
        subject: 'Hi',
        html: '<p>See <a href="https://acme.test/offer?x=1&amp;y=2">the offer</a></p>',
      },
    });
    expect(sent.status).toBe(202);
    await statusIs(key, sent.body.messageId, 'sent');
    const mail = sink.for(address)[0]!;
    const clickUrl = (mail.parsed.html as string).match(/href="([^"]+\/t\/c\/[^"]+)"/)![1]!;
    const path = clickUrl.slice(proc.url.length);
    const token = path.split('/').pop()!;
    // One character of the signature changed (the last may carry padding bits only).
    const changed = token.at(-2) === 'A' ? 'B' : 'A';
    const altered = `${token.slice(0, -2)}${changed}${token.slice(-1)}`;
    expect(altered).not.toBe(token);
    expect((await call('GET', `/t/c/${altered}`)).status).toBe(404);
    expect((await call('GET', '/t/c/not-a-token')).status).toBe(404);
    // Wait out the seconds-after-send window that marks a click as a scanner's.
    await new Promise((r) => setTimeout(r, 100));
    const head = await call('HEAD', path);
    expect(head.status).toBe(302);
    const clicked = await call('GET', path, {
      headers: {
        'user-agent': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Safari/605.1.15',
      },
    });
    expect(clicked.status).toBe(302);
    expect(clicked.headers.get('location')).toBe('https://acme.test/offer?x=1&y=2');
    const events = (await message(key, sent.body.messageId)).events.filter(
      (e: Json) => e.type === 'cmis.email.message-clicked',
    );
    expect(events.map((e: Json) => [e.data.machine, e.data.machineReason, e.data.linkIndex])).toEqual([
      [true, 'head_request', 0],
      [false, undefined, 0],
    ]);
  });

  it('defers on SMTP 4xx and retries under the same Message-ID; bounces on 5xx and suppresses the address', async () => {
    const { key } = await newOrg(proc);
    await settingsFor(key, { policy: { retryBaseSeconds: 0.2, maxAttempts: 5 } });
    const flaky = `${uniqueName('flaky')}@example.com`;
    let attempts = 0;
    sink.answer.set(flaky, () =>
      ++attempts <= 2 ? { code: 451, message: '4.3.0 try again later' } : 'accept',
    );
    const deferred = await send(key, 'flaky-1', {
      to: { kind: 'address', address: flaky },
      content: { kind: 'inline', subject: 'S', text: 'T' },
    });
    const done = await statusIs(key, deferred.body.messageId, 'sent');
    expect(done.events.map((e: Json) => [e.type, e.data.attempt, e.data.smtpCode])).toEqual([
      ['cmis.email.message-requested', undefined, undefined],
      ['cmis.email.message-rendered', undefined, undefined],
      ['cmis.email.message-deferred', 1, 451],
      ['cmis.email.message-deferred', 2, 451],
      ['cmis.email.message-sent', 3, undefined],
    ]);
    expect(sink.for(flaky)).toHaveLength(1);

    const gone = `${uniqueName('gone')}@example.com`;
    sink.answer.set(gone, { code: 550, message: '5.1.1 no such user' });
    const bounced = await send(key, 'gone-1', {
      to: { kind: 'address', address: gone },
      content: { kind: 'inline', subject: 'S', text: 'T' },
    });
    const b = await statusIs(key, bounced.body.messageId, 'bounced');
    expect(b.events.at(-1)).toMatchObject({
      type: 'cmis.email.message-bounced',
      data: { bounceType: 'hard', smtpCode: 550, source: 'smtp' },
    });
    expect((await call('GET', '/v1/suppressions', { bearer: key })).body.suppressions).toEqual([
      expect.objectContaining({ address: gone, reason: 'hard_bounce' }),
    ]);
    const again = await send(key, 'gone-2', {
      to: { kind: 'address', address: gone },
      content: { kind: 'inline', subject: 'S', text: 'T' },
    });
    expect(again.body).toMatchObject({ status: 'suppressed', reason: 'hard_bounce' });

    // Counted per provider for the dashboards (other tests of this process send through it too).
    const scraped = await (await fetch(`${proc.url}/metrics`)).text();
    const count = (outcome: string) =>
      Number(
        new RegExp(
          `^email_send_outcomes_total\\{provider="spec-sink",outcome="${outcome}"[^}]*\\} (\\d+)$`,
          'm',
        ).exec(scraped)?.[1] ?? 0,
      );
    expect(count('deferred')).toBeGreaterThanOrEqual(2);
    expect(count('sent')).toBeGreaterThanOrEqual(1);
    expect(count('bounced')).toBeGreaterThanOrEqual(1);
  });

  it('an unreachable provider loses nothing: deferred until it answers', async () => {
    const { key } = await newOrg(proc);
    // A port nothing listens on, then the sink.
    await settingsFor(key, {
      provider: { host: '127.0.0.1', port: 1, secure: false },
      policy: { retryBaseSeconds: 0.2 },
    });
    const address = `${uniqueName('later')}@example.com`;
    const sent = await send(key, 'down-1', {
      to: { kind: 'address', address },
      content: { kind: 'inline', subject: 'S', text: 'T' },
    });
    await statusIs(key, sent.body.messageId, 'deferred');
    await settingsFor(key, {
      provider: { host: '127.0.0.1', port: sink.port, secure: false },
      policy: { retryBaseSeconds: 0.2 },
    });
    await statusIs(key, sent.body.messageId, 'sent');
    expect(sink.for(address)).toHaveLength(1);
  });

  it('a worker that dies after the hand-off sends again under the same Message-ID; the outcome is recorded once', async () => {
    // The SMTP client hands the message over, then the process "dies" before recording (throws).
    const crashSink = await startSmtpSink();
    const { createSmtpSender } = await import('./sending/smtp-sender');
    const real = createSmtpSender();
    let crashes = 1;
    const address = `${uniqueName('twice')}@example.com`;
    const crashing = await startEmail(crashSink, {
      worker: { intervalMs: 100, leaseMs: 1_000 },
      smtp: {
        async send(provider, email) {
          const outcome = await real.send(provider, email);
          // Only this spec's message: the service also sends other specs' requests (one broker).
          if (email.to.address === address && crashes-- > 0)
            throw new Error('killed after the SMTP server accepted');
          return outcome;
        },
        close: () => real.close(),
      },
    });
    try {
      const { key } = await newOrg(crashing);
      const c = client(crashing.url);
      const sent = await c('POST', '/v1/messages', {
        bearer: key,
        headers: { 'idempotency-key': 'crash-1' },
        body: { to: { kind: 'address', address }, content: { kind: 'inline', subject: 'S', text: 'T' } },
      });
      const done = await until(
        async () => (await c('GET', `/v1/messages/${sent.body.messageId}`, { bearer: key })).body,
        (m) => m.status === 'sent',
        { timeoutMs: 20_000 },
      );
      const copies = crashSink.for(address);
      expect(copies).toHaveLength(2);
      expect(new Set(copies.map((m) => m.parsed.messageId)).size).toBe(1);
      expect(
        done.events
          .filter((e: Json) => e.type === 'cmis.email.message-sent')
          .map((e: Json) => e.data.attempt),
      ).toEqual([2]);
    } finally {
      await crashing.shutdown();
      await crashSink.close();
    }
  });

  it('one-click unsubscribe (RFC 8058) stops marketing email before the next send; transactional mail still goes', async () => {
    const { orgId, key } = await newOrg(proc);
    const contactId = uniqueName('carol');
    const address = `${contactId}@example.com`;
    await identify(proc, orgId, contactId, { email: address, name: 'Carol' });
    await knownContact(key, contactId);
    const first = await send(key, 'news-1', {
      to: { kind: 'contact', contactId },
      transactional: false,
      content: { kind: 'inline', subject: 'News', html: '<p>News {% unsubscribe_link %}</p>' },
    });
    await statusIs(key, first.body.messageId, 'sent');
    const mail = sink.for(address)[0]!;
    const url = /^<([^>]+)>/.exec(rawHeader(mail.raw, 'list-unsubscribe')!)![1]!;
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(res.status).toBe(200);
    const events = (await message(key, first.body.messageId)).events;
    expect(events.at(-1)).toMatchObject({
      type: 'cmis.email.message-unsubscribed',
      data: { scope: 'all', method: 'one_click' },
    });
    expect(
      (await call('GET', `/v1/contacts/${contactId}`, { bearer: key })).body.unsubscribedAt,
    ).toBeDefined();
    const second = await send(key, 'news-2', {
      to: { kind: 'contact', contactId },
      transactional: false,
      content: { kind: 'inline', subject: 'News', text: 'x' },
    });
    expect(second.body).toMatchObject({ status: 'suppressed', reason: 'unsubscribed' });
    const receipt = await send(key, 'receipt-1', {
      to: { kind: 'contact', contactId },
      content: { kind: 'inline', subject: 'Receipt', text: 'Thanks' },
    });
    await statusIs(key, receipt.body.messageId, 'sent');
    expect((await call('POST', '/u/forged-token')).status).toBe(404);
  });

  it('a contact with no address ends failed with the reason; an unknown template too', async () => {
    const { orgId, key } = await newOrg(proc);
    const contactId = uniqueName('noaddr');
    await identify(proc, orgId, contactId, { name: 'No Address' });
    await until(
      () => call('GET', `/v1/contacts/${contactId}`, { bearer: key }),
      (r) => r.status === 200,
    );
    const request: EmailRequested = {
      idempotencyKey: uniqueName('noaddr'),
      to: { kind: 'contact', contactId },
      content: { kind: 'inline', subject: 'S', text: 'T' },
      data: {},
      origin: { kind: 'drip', id: 'drip-1' },
    };
    await publish(proc, emailRequestsTopic.name, orgId, contactId, 'cmis.email.send-requested', request);
    const listed = await until(
      () => call('GET', `/v1/messages?contactId=${contactId}`, { bearer: key }),
      (r) => r.body.messages?.length === 1,
    );
    const failed = await message(key, listed.body.messages[0].messageId);
    expect(failed.status).toBe('failed');
    expect(failed.events.at(-1)).toMatchObject({
      type: 'cmis.email.message-failed',
      data: { reason: 'the contact has no email address' },
    });
    const unknown = await send(key, 'unknown-template', {
      to: { kind: 'address', address: 'x@example.com' },
      content: { kind: 'template', templateId: 'nope' },
    });
    expect(unknown.body).toMatchObject({ status: 'failed', reason: 'unknown template nope' });
  });

  it('versions templates, refuses a broken one naming line and column, and previews for a contact', async () => {
    const { orgId, key } = await newOrg(proc);
    const broken = await call('PUT', '/v1/templates/t1', {
      bearer: key,
      body: { name: 'T', content: { subject: 'Hi', html: '<p>\n{{ contact.name | shout }}</p>' } },
    });
    expect(broken.status).toBe(400);
    expect(broken.body.errors[0].path).toBe('body.content.html');
    expect(broken.body.errors[0].message).toMatch(/line 2, column \d+/);
    expect(
      (
        await call('PUT', '/v1/templates/t1', {
          bearer: key,
          body: { name: 'T', content: { subject: 'Hi {{ contact.name }}', text: 'v1' } },
        })
      ).body,
    ).toMatchObject({ version: 1 });
    const v2 = await call('PUT', '/v1/templates/t1', {
      bearer: key,
      body: { name: 'T', content: { subject: 'Hello {{ contact.name }}', text: 'v2' }, expectedVersion: 1 },
    });
    expect(v2.body).toMatchObject({ version: 2 });
    expect(
      (
        await call('PUT', '/v1/templates/t1', {
          bearer: key,
          body: { name: 'T', content: { subject: 'x', text: 'x' }, expectedVersion: 1 },
        })
      ).status,
    ).toBe(409);
    const detail = (await call('GET', '/v1/templates/t1', { bearer: key })).body;
    expect(detail.history.map((h: Json) => [h.version, h.fromVersion, h.by])).toEqual([
      [1, null, expect.stringMatching(/^key:/)],
      [2, 1, expect.stringMatching(/^key:/)],
    ]);
    const contactId = uniqueName('dan');
    await identify(proc, orgId, contactId, { email: `${contactId}@example.com`, name: 'Dan' });
    await knownContact(key, contactId);
    const preview = await call('POST', '/v1/templates/t1/preview', {
      bearer: key,
      body: { version: 1, contactId },
    });
    expect(preview.body).toMatchObject({ version: 1, subject: 'Hi Dan', text: 'v1' });
    const old = await send(key, 'v1-send', {
      to: { kind: 'contact', contactId },
      content: { kind: 'template', templateId: 't1', version: 1 },
    });
    expect(await statusIs(key, old.body.messageId, 'sent')).toMatchObject({
      templateVersion: 1,
      subject: 'Hi Dan',
    });
  });

  it('quiet hours defer marketing email to the window’s end in the contact’s zone; frequency caps suppress', async () => {
    const { orgId, key } = await newOrg(proc);
    // Quiet all day but one minute from now: whatever the hour, the message waits.
    const now = new Date();
    const hhmm = (d: Date) => d.toISOString().slice(11, 16);
    await settingsFor(key, {
      policy: {
        quietHours: {
          start: hhmm(new Date(now.getTime() - 60_000)),
          end: hhmm(new Date(now.getTime() + 120_000)),
        },
        frequencyCaps: { perDay: 1 },
      },
    });
    const contactId = uniqueName('erin');
    await identify(proc, orgId, contactId, { email: `${contactId}@example.com`, timezone: 'UTC' });
    await knownContact(key, contactId);
    const quiet = await send(key, 'quiet-1', {
      to: { kind: 'contact', contactId },
      transactional: false,
      content: { kind: 'inline', subject: 'S', text: 'T' },
    });
    expect(quiet.body.status).toBe('deferred');
    const m = await message(key, quiet.body.messageId);
    expect(m.events.at(-1)).toMatchObject({
      type: 'cmis.email.message-deferred',
      data: { reason: 'quiet hours', attempt: 0 },
    });
    expect(new Date(m.events.at(-1).data.retryAt).getTime()).toBeGreaterThan(now.getTime());
    const capped = await send(key, 'quiet-2', {
      to: { kind: 'contact', contactId },
      transactional: false,
      content: { kind: 'inline', subject: 'S', text: 'T' },
    });
    expect(capped.body).toMatchObject({ status: 'suppressed', reason: 'frequency_cap' });
    const exempt = await send(key, 'quiet-3', {
      to: { kind: 'contact', contactId },
      content: { kind: 'inline', subject: 'S', text: 'T' },
    });
    expect(exempt.body.status).toBe('queued');
  });

  it('throttles sends through a provider to its rate (the rest wait, none is lost)', async () => {
    const { key } = await newOrg(proc);
    await settingsFor(key, {
      provider: { host: '127.0.0.1', port: sink.port, secure: false, sendsPerSecond: 2 },
    });
    const tag = uniqueName('paced');
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await send(key, `${tag}-${i}`, {
        to: { kind: 'address', address: `${tag}-${i}@example.com` },
        content: { kind: 'inline', subject: 'S', text: 'T' },
      });
      ids.push(res.body.messageId as string);
    }
    const sentAt = await Promise.all(
      ids.map(async (id) => new Date((await statusIs(key, id, 'sent')).sentAt as string).getTime()),
    );
    // 6 at 2 a second: at least two more windows after the first.
    expect(Math.max(...sentAt) - Math.min(...sentAt)).toBeGreaterThanOrEqual(1_500);
    expect(sink.received.filter((m) => m.recipients[0]!.startsWith(tag))).toHaveLength(6);
  });

  it('documents every route it serves in its OpenAPI document', async () => {
    const doc = (await call('GET', '/openapi.json')).body as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(undocumentedRoutes(proc.service.router, doc)).toEqual([]);
    expect(servedRoutes(proc.service.router).length).toBeGreaterThanOrEqual(30);
  });

  it('refuses bad input with problem+json: no Idempotency-Key, no content, an unknown scope', async () => {
    const { key } = await newOrg(proc, ['email:read']);
    const noScope = await call('POST', '/v1/messages', {
      bearer: key,
      headers: { 'idempotency-key': 'k' },
      body: {},
    });
    expect(noScope.status).toBe(403);
    const { key: sender } = await newOrg(proc);
    const noKey = await call('POST', '/v1/messages', {
      bearer: sender,
      body: {
        to: { kind: 'address', address: 'a@example.com' },
        content: { kind: 'inline', subject: 'S', text: 'T' },
      },
    });
    expect(noKey.status).toBe(400);
    expect(noKey.headers.get('content-type')).toMatch(/problem\+json/);
    expect(noKey.body.errors[0].path).toBe('headers.idempotency-key');
    const noContent = await send(sender, 'k2', {
      to: { kind: 'address', address: 'a@example.com' },
      content: { kind: 'inline', subject: 'S' },
    });
    expect(noContent.status).toBe(400);
    expect(noContent.body.errors[0].path).toBe('body.content.html');
    const badAddress = await send(sender, 'k3', {
      to: { kind: 'address', address: 'not-an-address' },
      content: { kind: 'inline', subject: 'S', text: 'T' },
    });
    expect(badAddress.status).toBe(400);
  });
});
