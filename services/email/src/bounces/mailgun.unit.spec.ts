import { createHmac } from 'node:crypto';
import { parseMailgun, verifyMailgun } from './mailgun';
import { WebhookRejected } from './report';

const signingKey = 'key-0123456789abcdef0123456789abcdef';
const now = new Date('2024-05-01T12:00:00Z');
const signed = (token: string, timestamp = String(now.getTime() / 1000 - 10), key = signingKey) => ({
  timestamp,
  token,
  signature: createHmac('sha256', key)
    .update(timestamp + token)
    .digest('hex'),
});

/** Remembers every token it is asked about, as the lead's store does. */
function tokenStore() {
  const seen = new Set<string>();
  return jest.fn(async (token: string) => {
    const before = seen.has(token);
    seen.add(token);
    return before;
  });
}

async function status(promise: Promise<void>) {
  try {
    await promise;
    return 'passed';
  } catch (error) {
    expect(error).toBeInstanceOf(WebhookRejected);
    return (error as WebhookRejected).status;
  }
}

describe('Mailgun signatures', () => {
  const token = 'e0b5477167110d68991efc6b9f89f0a11066af27834600e123';

  // The signature covers timestamp and token only, not the body: accepting each token once is
  // also what stops a captured signature from carrying an altered body.
  it('verify the HMAC of timestamp and token, and accept a token once: a replay is 403', async () => {
    const tokenSeenBefore = tokenStore();
    const signature = signed(token);
    expect(await status(verifyMailgun({ signingKey, signature, now, tokenSeenBefore }))).toBe('passed');
    expect(await status(verifyMailgun({ signingKey, signature, now, tokenSeenBefore }))).toBe(403);
  });

  it('refuse another key, an altered token or timestamp, and a missing signature with 401, not asking the store', async () => {
    const tokenSeenBefore = tokenStore();
    const good = signed(token);
    for (const signature of [
      signed(token, good.timestamp, 'key-another'),
      { ...good, token: `${token}x` },
      { ...good, timestamp: String(Number(good.timestamp) + 1) },
      { ...good, signature: '' },
      undefined,
    ])
      expect(await status(verifyMailgun({ signingKey, signature, now, tokenSeenBefore }))).toBe(401);
    expect(tokenSeenBefore).not.toHaveBeenCalled();
  });

  it('refuse a stale timestamp with 401, within the tolerance', async () => {
    const old = signed(token, String(now.getTime() / 1000 - 301));
    expect(
      await status(verifyMailgun({ signingKey, signature: old, now, tokenSeenBefore: tokenStore() })),
    ).toBe(401);
    expect(
      await status(
        verifyMailgun({
          signingKey,
          signature: old,
          now,
          toleranceSeconds: 600,
          tokenSeenBefore: tokenStore(),
        }),
      ),
    ).toBe('passed');
  });
});

describe('Mailgun events', () => {
  const message = {
    headers: { 'message-id': '20240501120000.0123456789abcdef@mail.example.com', to: 'jane@example.org' },
  };
  const userVariables = { 'user-variables': { cmis_message_id: '0123456789abcdef0123456789abcdef' } };
  const ref = {
    smtpMessageId: '20240501120000.0123456789abcdef@mail.example.com',
    cmisMessageId: '0123456789abcdef0123456789abcdef',
  };
  const body = (eventData: Record<string, unknown>) => ({
    signature: signed('t'),
    'event-data': {
      id: 'G9Bn5sl1TC6ZA',
      timestamp: 1714564800.1,
      recipient: 'jane@example.org',
      message,
      ...userVariables,
      ...eventData,
    },
  });

  it('map permanent failures to hard and temporary ones to soft', () => {
    expect(
      parseMailgun(
        body({
          event: 'failed',
          severity: 'permanent',
          reason: 'bounce',
          'delivery-status': {
            code: 550,
            message: '5.1.1 The email account does not exist',
            description: '',
            'attempt-no': 1,
          },
        }),
      ),
    ).toEqual([
      {
        type: 'bounce',
        bounceType: 'hard',
        address: 'jane@example.org',
        reason: '5.1.1 The email account does not exist',
        smtpCode: 550,
        ref,
        source: 'mailgun',
      },
    ]);
    expect(
      parseMailgun(
        body({
          event: 'failed',
          severity: 'temporary',
          reason: 'generic',
          'delivery-status': { code: 452, message: '4.2.2 Mailbox full', description: 'mailbox full' },
        }),
      ),
    ).toEqual([
      {
        type: 'bounce',
        bounceType: 'soft',
        address: 'jane@example.org',
        reason: 'mailbox full',
        smtpCode: 452,
        ref,
        source: 'mailgun',
      },
    ]);
    expect(
      parseMailgun(
        body({
          event: 'failed',
          severity: 'permanent',
          reason: 'suppress-bounce',
          'delivery-status': { code: 605, message: 'Not delivering to previously bounced address' },
        }),
      ),
    ).toEqual([
      {
        type: 'bounce',
        bounceType: 'hard',
        address: 'jane@example.org',
        reason: 'Not delivering to previously bounced address',
        ref,
        source: 'mailgun',
      },
    ]);
  });

  it('map complaints and deliveries, and ignore engagement', () => {
    expect(parseMailgun(body({ event: 'complained' }))).toEqual([
      { type: 'complaint', address: 'jane@example.org', ref, source: 'mailgun' },
    ]);
    expect(
      parseMailgun(body({ event: 'delivered', 'delivery-status': { code: 250, message: 'OK' } })),
    ).toEqual([{ type: 'delivered', address: 'jane@example.org', ref, source: 'mailgun', detail: 'OK' }]);
    expect(parseMailgun(body({ event: 'opened' }))).toEqual([]);
  });

  it('refuse bodies without event-data, an event or a recipient with 400', () => {
    expect(() => parseMailgun({ signature: signed('t') })).toThrow(expect.objectContaining({ status: 400 }));
    expect(() => parseMailgun(body({ event: undefined }))).toThrow(expect.objectContaining({ status: 400 }));
    expect(() => parseMailgun(body({ event: 'failed', recipient: undefined }))).toThrow(
      expect.objectContaining({ status: 400 }),
    );
  });
});
