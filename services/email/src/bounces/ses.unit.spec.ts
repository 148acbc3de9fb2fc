import { verifySnsMessage, type SnsOptions } from './ses';
import type { SnsSignedFields } from './sns-signing';
import { sesBounceMessage } from './testing/ses-samples';
import { createSnsTestCertificate, signSnsMessage, type SnsTestCertificate } from './testing/sns-signer';
import { WebhookRejected } from './report';

const certUrl = 'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem';
const topicArn = 'arn:aws:sns:us-east-1:123456789012:ses-bounces';
const verp = 'bounces+abc@bounces.example.com';

let keys: SnsTestCertificate;
let otherKeys: SnsTestCertificate;
beforeAll(async () => {
  [keys, otherKeys] = await Promise.all([createSnsTestCertificate(), createSnsTestCertificate()]);
});

function setup(overrides: Partial<SnsOptions> = {}) {
  const fetchCertificate = jest.fn(async (_url: string) => keys.certificate);
  const opts: SnsOptions = { topicArnAllowed: (arn) => arn === topicArn, fetchCertificate, ...overrides };
  return { fetchCertificate, verify: (body: unknown) => verifySnsMessage(body, opts) };
}

const notification = (message: string, extra: Partial<SnsSignedFields> = {}): SnsSignedFields => ({
  Type: 'Notification',
  MessageId: '22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324',
  TopicArn: topicArn,
  Message: message,
  Timestamp: '2024-05-01T12:00:01.000Z',
  ...extra,
});

const bounce = sesBounceMessage({
  recipients: ['jane@example.org'],
  source: verp,
  messageIdHeader: '<0123456789abcdef0123456789abcdef@mail.example.com>',
});
const bounceReport = {
  type: 'bounce',
  bounceType: 'hard',
  address: 'jane@example.org',
  reason: '550 5.1.1 user unknown',
  smtpCode: 550,
  ref: { smtpMessageId: '<0123456789abcdef0123456789abcdef@mail.example.com>', verpAddress: verp },
  source: 'ses',
};

async function rejection(promise: Promise<unknown>): Promise<WebhookRejected> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WebhookRejected);
  return error as WebhookRejected;
}

describe('SNS messages', () => {
  it.each([1, 2] as const)('verify with SignatureVersion %s and carry the SES reports', async (version) => {
    const { verify, fetchCertificate } = setup();
    const body = signSnsMessage(notification(bounce), { version, certUrl, privateKey: keys.privateKey });
    expect(body.SignatureVersion).toBe(String(version));
    await expect(verify(JSON.parse(JSON.stringify(body)))).resolves.toEqual({
      kind: 'notification',
      topicArn,
      reports: [bounceReport],
    });
    expect(fetchCertificate).toHaveBeenCalledWith(certUrl);
  });

  it('verify with a Subject, which is then signed', async () => {
    const { verify } = setup();
    const body = signSnsMessage(notification(bounce, { Subject: 'Amazon SES Email Event Notification' }), {
      version: 2,
      certUrl,
      privateKey: keys.privateKey,
    });
    await expect(verify(body)).resolves.toMatchObject({ kind: 'notification' });
    expect((await rejection(verify({ ...body, Subject: 'Other' }))).status).toBe(401);
    const { Subject: _dropped, ...withoutSubject } = body;
    expect((await rejection(verify(withoutSubject))).status).toBe(401);
  });

  it.each([
    ['Message', (b: Record<string, string>) => ({ ...b, Message: b.Message!.replace('jane@', 'joe@') })],
    ['Timestamp', (b: Record<string, string>) => ({ ...b, Timestamp: '2024-05-01T12:00:02.000Z' })],
    ['MessageId', (b: Record<string, string>) => ({ ...b, MessageId: 'another' })],
    [
      'Type',
      (b: Record<string, string>) => ({
        ...b,
        Type: 'SubscriptionConfirmation',
        Token: 't',
        SubscribeURL: certUrl,
      }),
    ],
  ])('refuse an altered %s with 401', async (_field, alter) => {
    const { verify } = setup();
    const body = signSnsMessage(notification(bounce), { version: 2, certUrl, privateKey: keys.privateKey });
    expect((await rejection(verify(alter(body)))).status).toBe(401);
  });

  it.each([1, 2] as const)(
    'refuse a v%s signature by a key other than the certificate’s with 401',
    async (version) => {
      const { verify } = setup();
      const body = signSnsMessage(notification(bounce), {
        version,
        certUrl,
        privateKey: otherKeys.privateKey,
      });
      expect((await rejection(verify(body))).status).toBe(401);
    },
  );

  it('refuse a v1 signature presented as v2 and an unknown version with 401', async () => {
    const { verify, fetchCertificate } = setup();
    const body = signSnsMessage(notification(bounce), { version: 1, certUrl, privateKey: keys.privateKey });
    expect((await rejection(verify({ ...body, SignatureVersion: '2' }))).status).toBe(401);
    fetchCertificate.mockClear();
    expect((await rejection(verify({ ...body, SignatureVersion: '3' }))).status).toBe(401);
    expect(fetchCertificate).not.toHaveBeenCalled();
  });

  it.each([
    'https://sns.us-east-1.amazonaws.com.evil.example/cert.pem',
    'http://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123.pem',
    'https://evil.example/sns.us-east-1.amazonaws.com/cert.pem',
    'https://sns.us-east-1.amazonaws.com:8443/cert.pem',
    'https://user@sns.us-east-1.amazonaws.com/cert.pem',
    'https://s3.amazonaws.com/cert.pem',
  ])('refuse the certificate URL %s with 403 without fetching it', async (url) => {
    const { verify, fetchCertificate } = setup();
    const body = signSnsMessage(notification(bounce), {
      version: 2,
      certUrl: url,
      privateKey: keys.privateKey,
    });
    const error = await rejection(verify(body));
    expect(error.status).toBe(403);
    expect(fetchCertificate).not.toHaveBeenCalled();
  });

  it('accept SNS hosts of every region, China included', async () => {
    for (const url of [
      'https://sns.eu-central-1.amazonaws.com/SimpleNotificationService-1.pem',
      'https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-1.pem',
    ]) {
      const { verify } = setup();
      const body = signSnsMessage(notification(bounce), {
        version: 2,
        certUrl: url,
        privateKey: keys.privateKey,
      });
      await expect(verify(body)).resolves.toMatchObject({ kind: 'notification' });
    }
  });

  it('refuse a topic that is not on the allowlist with 403, once the signature verified', async () => {
    const { verify } = setup();
    const other = 'arn:aws:sns:us-east-1:999999999999:someone-elses';
    const body = signSnsMessage(notification(bounce, { TopicArn: other }), {
      version: 2,
      certUrl,
      privateKey: keys.privateKey,
    });
    const error = await rejection(verify(body));
    expect(error.status).toBe(403);
    expect(error.message).toContain(other);
    const forged = signSnsMessage(notification(bounce, { TopicArn: other }), {
      version: 2,
      certUrl,
      privateKey: otherKeys.privateKey,
    });
    expect((await rejection(verify(forged))).status).toBe(401);
  });

  it('refuse a stale Timestamp with 401 when now is given', async () => {
    const body = signSnsMessage(notification(bounce), { version: 2, certUrl, privateKey: keys.privateKey });
    const { verify: late } = setup({ now: new Date('2024-05-01T13:00:02.000Z') });
    expect((await rejection(late(body))).status).toBe(401);
    const { verify: early } = setup({ now: new Date('2024-05-01T10:59:00.000Z') });
    expect((await rejection(early(body))).status).toBe(401);
    const { verify: inTime } = setup({ now: new Date('2024-05-01T12:59:00.000Z') });
    await expect(inTime(body)).resolves.toMatchObject({ kind: 'notification' });
    const { verify: strict } = setup({ now: new Date('2024-05-01T12:06:00.000Z'), toleranceSeconds: 300 });
    expect((await rejection(strict(body))).status).toBe(401);
  });

  describe('confirmations', () => {
    const confirmation = (
      type: 'SubscriptionConfirmation' | 'UnsubscribeConfirmation',
      subscribeUrl: string,
    ) => ({
      Type: type,
      MessageId: '165545c9-2a5c-472c-8df2-7ff2be2b3b1b',
      Token:
        '2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736',
      TopicArn: topicArn,
      Message: `You have chosen to subscribe to the topic ${topicArn}.\nTo confirm the subscription, visit the SubscribeURL included in this message.`,
      SubscribeURL: subscribeUrl,
      Timestamp: '2024-05-01T12:00:00.000Z',
    });
    const subscribeUrl = `https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=${topicArn}&Token=2336412f37`;

    it('are read once verified: the subscription to confirm, the unsubscription', async () => {
      const { verify } = setup();
      const sub = signSnsMessage(confirmation('SubscriptionConfirmation', subscribeUrl), {
        version: 1,
        certUrl,
        privateKey: keys.privateKey,
      });
      expect(Object.keys(sub)).toEqual([
        'Type',
        'MessageId',
        'Token',
        'TopicArn',
        'Message',
        'SubscribeURL',
        'Timestamp',
        'SignatureVersion',
        'Signature',
        'SigningCertURL',
      ]);
      await expect(verify(sub)).resolves.toEqual({
        kind: 'subscription-confirmation',
        subscribeUrl,
        topicArn,
      });
      const unsub = signSnsMessage(confirmation('UnsubscribeConfirmation', subscribeUrl), {
        version: 2,
        certUrl,
        privateKey: keys.privateKey,
      });
      await expect(verify(unsub)).resolves.toEqual({ kind: 'unsubscribe-confirmation', topicArn });
    });

    it('refuse a changed Token with 401 and a SubscribeURL off SNS with 403, unfetched', async () => {
      const { verify, fetchCertificate } = setup();
      const sub = signSnsMessage(confirmation('SubscriptionConfirmation', subscribeUrl), {
        version: 2,
        certUrl,
        privateKey: keys.privateKey,
      });
      expect((await rejection(verify({ ...sub, Token: 'other' }))).status).toBe(401);
      fetchCertificate.mockClear();
      const elsewhere = signSnsMessage(
        confirmation('SubscriptionConfirmation', 'https://evil.example/confirm'),
        {
          version: 2,
          certUrl,
          privateKey: keys.privateKey,
        },
      );
      expect((await rejection(verify(elsewhere))).status).toBe(403);
      expect(fetchCertificate).not.toHaveBeenCalled();
    });

    it('refuse a subscription to a topic not on the allowlist with 403', async () => {
      const { verify } = setup({ topicArnAllowed: () => false });
      const sub = signSnsMessage(confirmation('SubscriptionConfirmation', subscribeUrl), {
        version: 2,
        certUrl,
        privateKey: keys.privateKey,
      });
      expect((await rejection(verify(sub))).status).toBe(403);
    });
  });

  it.each([
    ['not an object', '{"Type":"Notification"}'],
    ['without a Signature', { ...notification(bounce), SignatureVersion: '2', SigningCertURL: certUrl }],
    [
      'of an unknown Type',
      {
        ...notification(bounce),
        Type: 'Other',
        Signature: 'x',
        SignatureVersion: '2',
        SigningCertURL: certUrl,
      },
    ],
    [
      'with a SigningCertURL that is not a URL',
      { ...notification(bounce), Signature: 'x', SignatureVersion: '2', SigningCertURL: 'sns' },
    ],
  ])('refuse a body %s with 400', async (_what, body) => {
    const { verify } = setup();
    expect((await rejection(verify(body))).status).toBe(400);
  });

  it('refuse a certificate that is not one with 401', async () => {
    const { verify } = setup({ fetchCertificate: async () => '<html>not a certificate</html>' });
    const body = signSnsMessage(notification(bounce), { version: 2, certUrl, privateKey: keys.privateKey });
    expect((await rejection(verify(body))).status).toBe(401);
  });

  describe('SES notifications', () => {
    const reportsOf = async (message: unknown) => {
      const { verify } = setup();
      const text = typeof message === 'string' ? message : JSON.stringify(message);
      const result = await verify(
        signSnsMessage(notification(text), { version: 2, certUrl, privateKey: keys.privateKey }),
      );
      return result.kind === 'notification' ? result.reports : undefined;
    };
    const mail = {
      timestamp: '2024-05-01T11:59:58.000Z',
      source: `"Shop" <${verp}>`,
      messageId: '0100018f3a1c2b3d-ses-id',
      destination: ['jane@example.org', 'joe@example.com'],
      headers: [
        { name: 'Message-ID', value: '<0123456789abcdef0123456789abcdef@mail.example.com>' },
        { name: 'X-CMIS-Message-Id', value: '0123456789abcdef0123456789abcdef' },
      ],
      commonHeaders: { from: ['news@shop.example'], to: ['jane@example.org'], subject: 'Spring sale' },
    };
    const ref = {
      smtpMessageId: '<0123456789abcdef0123456789abcdef@mail.example.com>',
      verpAddress: verp,
      cmisMessageId: '0123456789abcdef0123456789abcdef',
    };

    it('map a Transient and an Undetermined bounce to soft, one report per recipient', async () => {
      const message = {
        notificationType: 'Bounce',
        bounce: {
          bounceType: 'Transient',
          bounceSubType: 'MailboxFull',
          bouncedRecipients: [
            {
              emailAddress: 'jane@example.org',
              status: '4.2.2',
              diagnosticCode: 'smtp; 452 4.2.2 Mailbox full',
            },
            { emailAddress: 'joe@example.com', status: '4.0.0' },
          ],
        },
        mail,
      };
      expect(await reportsOf(message)).toEqual([
        {
          type: 'bounce',
          bounceType: 'soft',
          address: 'jane@example.org',
          reason: '452 4.2.2 Mailbox full',
          smtpCode: 452,
          ref,
          source: 'ses',
        },
        {
          type: 'bounce',
          bounceType: 'soft',
          address: 'joe@example.com',
          reason: 'Transient bounce (MailboxFull), status 4.0.0',
          ref,
          source: 'ses',
        },
      ]);
      const undetermined = {
        ...message,
        bounce: { bounceType: 'Undetermined', bouncedRecipients: [{ emailAddress: 'jane@example.org' }] },
      };
      expect(await reportsOf(undetermined)).toEqual([
        {
          type: 'bounce',
          bounceType: 'soft',
          address: 'jane@example.org',
          reason: 'Undetermined bounce',
          ref,
          source: 'ses',
        },
      ]);
    });

    it('map complaints and deliveries, from notifications and from configuration set events', async () => {
      expect(
        await reportsOf({
          notificationType: 'Complaint',
          complaint: {
            complainedRecipients: [{ emailAddress: 'jane@example.org' }],
            complaintFeedbackType: 'abuse',
            feedbackId: '0100018f-complaint',
          },
          mail,
        }),
      ).toEqual([
        { type: 'complaint', address: 'jane@example.org', feedbackType: 'abuse', ref, source: 'ses' },
      ]);
      expect(
        await reportsOf({
          eventType: 'Delivery',
          delivery: {
            recipients: ['jane@example.org', 'joe@example.com'],
            smtpResponse: '250 2.6.0 Message received',
            processingTimeMillis: 546,
          },
          mail: { ...mail, headers: [], commonHeaders: { messageId: '<abc@mail.example.com>' } },
        }),
      ).toEqual(
        ['jane@example.org', 'joe@example.com'].map((address) => ({
          type: 'delivered',
          address,
          ref: { smtpMessageId: '<abc@mail.example.com>', verpAddress: verp },
          source: 'ses',
          detail: '250 2.6.0 Message received',
        })),
      );
    });

    it('carry nothing for messages that are not delivery outcomes', async () => {
      expect(await reportsOf('Hello from the SNS console')).toEqual([]);
      expect(await reportsOf({ notificationType: 'AmazonSnsSubscriptionSucceeded', message: 'ok' })).toEqual(
        [],
      );
      expect(await reportsOf({ eventType: 'DeliveryDelay', deliveryDelay: {}, mail })).toEqual([]);
      expect(await reportsOf({ eventType: 'Open', open: {}, mail })).toEqual([]);
    });

    it('refuse a bounce without its recipients with 400', async () => {
      await expect(
        reportsOf({ notificationType: 'Bounce', bounce: { bounceType: 'Permanent' }, mail }),
      ).rejects.toMatchObject({
        status: 400,
      });
      await expect(reportsOf({ notificationType: 'Bounce', mail })).rejects.toMatchObject({ status: 400 });
    });
  });
});
