import { generateKeyPairSync, sign } from 'node:crypto';
import { WebhookRejected } from './report';
import { parseSendgridEvents, verifySendgrid } from './sendgrid';

const ec = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const keys = ec();
// As the SendGrid dashboard shows it: SubjectPublicKeyInfo DER, base64.
const publicKey = keys.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
const now = new Date('2024-05-01T12:00:00Z');
const timestamp = String(now.getTime() / 1000 - 20);
const rawBody = Buffer.from('[{"email":"jane@example.org","event":"delivered","response":"250 OK"}]\r\n');
const signatureOf = (body: Buffer, ts = timestamp, privateKey = keys.privateKey) =>
  sign('sha256', Buffer.concat([Buffer.from(ts), body]), privateKey).toString('base64');

const status = (fn: () => void) => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(WebhookRejected);
    return (error as WebhookRejected).status;
  }
  return 'passed';
};
const check = (overrides: Partial<Parameters<typeof verifySendgrid>[0]> = {}) =>
  status(() =>
    verifySendgrid({ publicKey, signature: signatureOf(rawBody), timestamp, rawBody, now, ...overrides }),
  );

describe('SendGrid signatures', () => {
  it('verify over the timestamp and the raw body, with the key as SendGrid shows it or as PEM', () => {
    expect(check()).toBe('passed');
    expect(check({ publicKey: keys.publicKey.export({ type: 'spki', format: 'pem' }).toString() })).toBe(
      'passed',
    );
  });

  it('refuse an altered body, a re-serialised body and another timestamp with 401', () => {
    expect(check({ rawBody: Buffer.from(rawBody.toString().replace('jane', 'joan')) })).toBe(401);
    expect(check({ rawBody: Buffer.from(JSON.stringify(JSON.parse(rawBody.toString()))) })).toBe(401);
    expect(check({ timestamp: String(Number(timestamp) + 1) })).toBe(401);
  });

  it('refuse a signature by another key, and a key that is not P-256, with 401', () => {
    expect(check({ signature: signatureOf(rawBody, timestamp, ec().privateKey) })).toBe(401);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({
      type: 'spki',
      format: 'der',
    });
    expect(check({ publicKey: rsa.toString('base64') })).toBe(401);
    expect(check({ publicKey: 'not a key' })).toBe(401);
  });

  it('refuse a stale or future timestamp with 401, within the tolerance', () => {
    const old = String(now.getTime() / 1000 - 301);
    expect(check({ timestamp: old, signature: signatureOf(rawBody, old) })).toBe(401);
    const future = String(now.getTime() / 1000 + 301);
    expect(check({ timestamp: future, signature: signatureOf(rawBody, future) })).toBe(401);
    expect(check({ timestamp: old, signature: signatureOf(rawBody, old), toleranceSeconds: 600 })).toBe(
      'passed',
    );
  });

  it('refuse missing headers and a signature that is not DER with 401', () => {
    expect(check({ signature: undefined })).toBe(401);
    expect(check({ timestamp: undefined })).toBe(401);
    expect(check({ signature: Buffer.from('garbage').toString('base64') })).toBe(401);
  });
});

describe('SendGrid events', () => {
  const common = {
    timestamp: 1714564800,
    'smtp-id': '<0123456789abcdef0123456789abcdef@mail.example.com>',
    sg_event_id: 'e',
    sg_message_id: 'm',
  };
  const ref = {
    smtpMessageId: '<0123456789abcdef0123456789abcdef@mail.example.com>',
    cmisMessageId: '0123456789abcdef0123456789abcdef',
  };
  const event = (fields: Record<string, unknown>) => ({
    ...common,
    cmis_message_id: '0123456789abcdef0123456789abcdef',
    ...fields,
  });

  it('map each event type to its report, or to none', () => {
    const body = [
      event({ email: 'a@example.org', event: 'processed' }),
      event({ email: 'b@example.org', event: 'deferred', response: '400 try again later', attempt: '5' }),
      event({ email: 'c@example.org', event: 'delivered', response: '250 OK' }),
      event({
        email: 'd@example.org',
        event: 'bounce',
        type: 'bounce',
        status: '5.1.1',
        reason: '550 5.1.1 The email account does not exist',
      }),
      event({
        email: 'e@example.org',
        event: 'bounce',
        type: 'blocked',
        status: '5.0.0',
        reason: '554 5.7.1 Service unavailable; client host blocked',
      }),
      event({
        email: 'f@example.org',
        event: 'bounce',
        type: 'bounce',
        status: '4.2.2',
        reason: '452 4.2.2 Mailbox full',
      }),
      event({ email: 'g@example.org', event: 'dropped', reason: 'Bounced Address', status: '5.0.0' }),
      event({ email: 'h@example.org', event: 'dropped', reason: 'Unsubscribed Address', status: '5.0.0' }),
      event({ email: 'i@example.org', event: 'dropped', reason: 'Spam Reporting Address', status: '5.0.0' }),
      event({ email: 'j@example.org', event: 'spamreport' }),
      event({ email: 'k@example.org', event: 'open', useragent: 'Mozilla', ip: '192.0.2.1' }),
      { ...common, email: 'l@example.org', event: 'delivered', response: '250 OK' },
    ];
    expect(parseSendgridEvents(body)).toEqual([
      { type: 'delivered', address: 'c@example.org', ref, source: 'sendgrid', detail: '250 OK' },
      {
        type: 'bounce',
        bounceType: 'hard',
        address: 'd@example.org',
        reason: '550 5.1.1 The email account does not exist',
        smtpCode: 550,
        ref,
        source: 'sendgrid',
      },
      {
        type: 'bounce',
        bounceType: 'soft',
        address: 'e@example.org',
        reason: '554 5.7.1 Service unavailable; client host blocked',
        smtpCode: 554,
        ref,
        source: 'sendgrid',
      },
      {
        type: 'bounce',
        bounceType: 'soft',
        address: 'f@example.org',
        reason: '452 4.2.2 Mailbox full',
        smtpCode: 452,
        ref,
        source: 'sendgrid',
      },
      {
        type: 'bounce',
        bounceType: 'hard',
        address: 'g@example.org',
        reason: 'dropped by SendGrid: Bounced Address',
        ref,
        source: 'sendgrid',
      },
      { type: 'complaint', address: 'i@example.org', ref, source: 'sendgrid' },
      { type: 'complaint', address: 'j@example.org', ref, source: 'sendgrid' },
      {
        type: 'delivered',
        address: 'l@example.org',
        ref: { smtpMessageId: ref.smtpMessageId },
        source: 'sendgrid',
        detail: '250 OK',
      },
    ]);
  });

  it('refuse a body that is not a list of events with 400', () => {
    expect(() => parseSendgridEvents({ event: 'delivered' })).toThrow(
      expect.objectContaining({ status: 400 }),
    );
    expect(() => parseSendgridEvents(['x'])).toThrow(expect.objectContaining({ status: 400 }));
    expect(() => parseSendgridEvents([{ event: 'bounce' }])).toThrow(
      expect.objectContaining({ status: 400 }),
    );
  });
});
