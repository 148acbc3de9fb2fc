// Delivery reports into the email service: provider webhooks (SendGrid signed, Mailgun signed and
// once only, Postmark basic auth), DSNs and the List-Unsubscribe mailto through its SMTP receiver,
// and the preference center. Nothing is recorded from a request that does not verify.
import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { createTransport } from 'nodemailer';
import type { RunningServiceProcess } from '@cmis/platform';
import { uniqueName } from '@cmis/testkit';
import {
  client,
  identify,
  newOrg,
  rawHeader,
  startEmail,
  startSmtpSink,
  until,
  type Json,
  type SmtpSink,
} from '../testing/support';

describe('email delivery reports and consent pages', () => {
  let sink: SmtpSink;
  let proc: RunningServiceProcess;
  let receiverPort = 0;
  let call: ReturnType<typeof client>;

  beforeAll(async () => {
    sink = await startSmtpSink();
    proc = await startEmail(sink, {
      config: { receiverPort: 0, devInbox: false },
      onReceiver: (r) => (receiverPort = r.port),
    });
    call = client(proc.url);
  });
  afterAll(async () => {
    await proc?.shutdown();
    await sink?.close();
  });

  const message = async (key: string, id: string) =>
    (await call('GET', `/v1/messages/${id}`, { bearer: key })).body;
  const sentTo = async (key: string, address: string, idempotencyKey = uniqueName('k')) => {
    const res = await call('POST', '/v1/messages', {
      bearer: key,
      headers: { 'idempotency-key': idempotencyKey },
      body: {
        to: { kind: 'address', address },
        transactional: false,
        content: { kind: 'inline', subject: 'S', text: 'T' },
      },
    });
    const m = await until(
      () => message(key, res.body.messageId as string),
      (x) => x.status === 'sent',
    );
    return { id: m.messageId as string, mail: sink.for(address).at(-1)! };
  };
  const suppressions = async (key: string) =>
    ((await call('GET', '/v1/suppressions', { bearer: key })).body.suppressions as Json[]).map((s) => [
      s.address,
      s.reason,
    ]);

  it('SendGrid: a signed bounce is applied; an unsigned or re-signed-by-another-key one is refused and records nothing', async () => {
    const { orgId, key } = await newOrg(proc);
    const keys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const publicKey = keys.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    await call('PUT', '/v1/settings', { bearer: key, body: { webhooks: { sendgridPublicKey: publicKey } } });
    const address = `${uniqueName('sg')}@example.com`;
    const { id, mail } = await sentTo(key, address);
    const body = JSON.stringify([
      {
        email: address,
        event: 'bounce',
        type: 'bounce',
        status: '5.1.1',
        reason: '550 5.1.1 unknown user',
        'smtp-id': mail.parsed.messageId,
        timestamp: Math.floor(Date.now() / 1000),
      },
    ]);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signWith = (k: typeof keys.privateKey) =>
      sign('sha256', Buffer.from(timestamp + body), { key: k, dsaEncoding: 'der' }).toString('base64');
    const post = (signature: string | undefined) =>
      call('POST', `/webhooks/${orgId}/sendgrid`, {
        body,
        headers: {
          'content-type': 'application/json',
          ...(signature ? { 'x-twilio-email-event-webhook-signature': signature } : {}),
          'x-twilio-email-event-webhook-timestamp': timestamp,
        },
      });
    expect((await post(undefined)).status).toBe(401);
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const forged = await post(signWith(other.privateKey));
    expect(forged.status).toBe(401);
    expect(forged.headers.get('content-type')).toMatch(/problem\+json/);
    expect((await message(key, id)).status).toBe('sent');
    expect(await suppressions(key)).toEqual([]);
    const applied = await post(signWith(keys.privateKey));
    expect(applied.body).toEqual({ received: 1, applied: 1 });
    expect((await message(key, id)).events.at(-1)).toMatchObject({
      type: 'cmis.email.message-bounced',
      data: { bounceType: 'hard', source: 'sendgrid' },
    });
    expect(await suppressions(key)).toEqual([[address, 'hard_bounce']]);
  });

  it('Mailgun: a signed failure is applied once; the same token again is refused', async () => {
    const { orgId, key } = await newOrg(proc);
    const signingKey = 'mailgun-signing-key-0123456789';
    await call('PUT', '/v1/settings', { bearer: key, body: { webhooks: { mailgunSigningKey: signingKey } } });
    const address = `${uniqueName('mg')}@example.com`;
    const { id, mail } = await sentTo(key, address);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const token = uniqueName('token');
    const body = {
      signature: {
        timestamp,
        token,
        signature: createHmac('sha256', signingKey)
          .update(timestamp + token)
          .digest('hex'),
      },
      'event-data': {
        event: 'failed',
        severity: 'temporary',
        recipient: address,
        'delivery-status': { code: 452, message: '4.2.2 mailbox full' },
        message: { headers: { 'message-id': mail.parsed.messageId!.replace(/[<>]/g, '') } },
      },
    };
    const first = await call('POST', `/webhooks/${orgId}/mailgun`, { body });
    expect(first.body).toEqual({ received: 1, applied: 1 });
    expect((await message(key, id)).events.at(-1)).toMatchObject({
      type: 'cmis.email.message-bounced',
      data: { bounceType: 'soft', smtpCode: 452, source: 'mailgun' },
    });
    expect((await call('POST', `/webhooks/${orgId}/mailgun`, { body })).status).toBe(403);
    const altered = { ...body, signature: { ...body.signature, signature: 'ab'.repeat(32) } };
    expect((await call('POST', `/webhooks/${orgId}/mailgun`, { body: altered })).status).toBe(401);
    // One soft bounce is counted, not suppressed (the org's limit is 3 by default).
    expect(await suppressions(key)).toEqual([]);
  });

  it('Postmark: wrong credentials get 401; a spam complaint with the right ones suppresses the address', async () => {
    const { orgId, key } = await newOrg(proc);
    await call('PUT', '/v1/settings', {
      bearer: key,
      body: { webhooks: { postmark: { user: 'pm', password: 'postmark-secret' } } },
    });
    const address = `${uniqueName('pm')}@example.com`;
    const { id } = await sentTo(key, address);
    const body = {
      RecordType: 'SpamComplaint',
      Email: address,
      Metadata: { cmis_message_id: id },
      MessageID: 'pm-1',
    };
    const basic = (user: string, pass: string) =>
      `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    expect(
      (
        await call('POST', `/webhooks/${orgId}/postmark`, {
          body,
          headers: { authorization: basic('pm', 'nope') },
        })
      ).status,
    ).toBe(401);
    expect((await call('POST', `/webhooks/${orgId}/postmark`, { body })).status).toBe(401);
    const ok = await call('POST', `/webhooks/${orgId}/postmark`, {
      body,
      headers: { authorization: basic('pm', 'postmark-secret') },
    });
    expect(ok.body).toEqual({ received: 1, applied: 1 });
    expect((await message(key, id)).status).toBe('complained');
    expect(await suppressions(key)).toEqual([[address, 'complaint']]);
    expect((await call('POST', `/webhooks/not-an-org/postmark`, { body })).status).toBe(404);
  });

  it('a DSN to the VERP return path bounces its message; mail to the List-Unsubscribe mailto unsubscribes', async () => {
    const { key } = await newOrg(proc);
    const address = `${uniqueName('dsn')}@example.com`;
    const { id, mail } = await sentTo(key, address);
    const smtp = createTransport({ host: '127.0.0.1', port: receiverPort, secure: false, ignoreTLS: true });
    const dsn = [
      'From: MAILER-DAEMON@mx.example.com',
      `To: ${mail.envelopeFrom}`,
      'Subject: Undelivered Mail Returned to Sender',
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain',
      '',
      'Your message could not be delivered.',
      '--b1',
      'Content-Type: message/delivery-status',
      '',
      'Reporting-MTA: dns; mx.example.com',
      '',
      `Final-Recipient: rfc822; ${address}`,
      'Action: failed',
      'Status: 5.1.1',
      'Diagnostic-Code: smtp; 550 5.1.1 no such user',
      '--b1',
      'Content-Type: text/rfc822-headers',
      '',
      `Message-ID: ${mail.parsed.messageId}`,
      '--b1--',
      '',
    ].join('\r\n');
    await smtp.sendMail({ envelope: { from: '', to: mail.envelopeFrom }, raw: dsn });
    const bounced = await until(
      () => message(key, id),
      (m) => m.status === 'bounced',
    );
    expect(bounced.events.at(-1)).toMatchObject({
      data: { bounceType: 'hard', smtpCode: 550, source: 'dsn' },
    });

    // A garbage report to a VERP address is refused as malformed and changes nothing.
    const other = await sentTo(key, `${uniqueName('junk')}@example.com`);
    await smtp.sendMail({
      envelope: { from: '', to: other.mail.envelopeFrom },
      raw: 'garbage without headers',
    });
    expect((await message(key, other.id)).status).toBe('sent');

    const mailto = /<mailto:([^>]+)>/.exec(rawHeader(other.mail.raw, 'list-unsubscribe')!)![1]!;
    await smtp.sendMail({
      envelope: { from: 'someone@example.com', to: mailto },
      raw: 'Subject: unsubscribe\r\n\r\nunsubscribe',
    });
    const unsubscribed = await until(
      () => message(key, other.id),
      (m) => m.events.some((e: Json) => e.type === 'cmis.email.message-unsubscribed'),
    );
    expect(unsubscribed.events.at(-1)).toMatchObject({ data: { scope: 'all', method: 'mailto' } });
    smtp.close();
  });

  it('the preference center unsubscribes a contact from one topic; a request on that topic is then suppressed', async () => {
    const { orgId, key } = await newOrg(proc);
    await call('PUT', '/v1/settings', {
      bearer: key,
      body: {
        subscriptionTopics: [
          { id: 'news', name: 'Newsletter' },
          { id: 'offers', name: 'Offers & deals' },
        ],
      },
    });
    const contactId = uniqueName('pref');
    await identify(proc, orgId, contactId, { email: `${contactId}@example.com` });
    await until(
      () => call('GET', `/v1/contacts/${contactId}`, { bearer: key }),
      (r) => r.status === 200,
    );
    const send = (topic: string, k: string) =>
      call('POST', '/v1/messages', {
        bearer: key,
        headers: { 'idempotency-key': k },
        body: {
          to: { kind: 'contact', contactId },
          transactional: false,
          subscriptionTopic: topic,
          content: { kind: 'inline', subject: 'S', html: '<p>x {% preferences_link %}</p>' },
        },
      });
    const first = await send('news', 'p1');
    await until(
      () => message(key, first.body.messageId as string),
      (m) => m.status === 'sent',
    );
    const mail = sink.for(`${contactId}@example.com`)[0]!;
    const prefs = /href="([^"]+\/p\/[^"]+)"/.exec(mail.parsed.html as string)![1]!;
    const page = await fetch(prefs);
    const html = await page.text();
    expect(html).toContain('Offers &amp; deals');
    expect(html).toMatch(/value="news" checked/);
    const saved = await fetch(prefs, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'topic=offers',
    });
    expect(saved.status).toBe(200);
    expect((await call('GET', `/v1/contacts/${contactId}`, { bearer: key })).body.unsubscribedTopics).toEqual(
      ['news'],
    );
    expect((await send('news', 'p2')).body).toMatchObject({
      status: 'suppressed',
      reason: 'topic_unsubscribed',
    });
    expect((await send('offers', 'p3')).body.status).toBe('queued');
    expect((await fetch(prefs.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')))).status).toBe(404);
  });
});
