import { parsePostmark, verifyPostmarkAuth } from './postmark';
import { WebhookRejected } from './report';

const expected = { user: 'postmark-hook', password: 's3cret:with-colon' };
const basic = (credentials: string) => `Basic ${Buffer.from(credentials).toString('base64')}`;
const status = (header: string | undefined) => {
  try {
    verifyPostmarkAuth(header, expected);
    return 'passed';
  } catch (error) {
    expect(error).toBeInstanceOf(WebhookRejected);
    return (error as WebhookRejected).status;
  }
};

describe('Postmark credentials', () => {
  it('pass with the configured user and password (a password may contain colons)', () => {
    expect(status(basic('postmark-hook:s3cret:with-colon'))).toBe('passed');
    expect(status(`basic   ${Buffer.from('postmark-hook:s3cret:with-colon').toString('base64')}`)).toBe(
      'passed',
    );
  });

  it.each([
    ['missing', undefined],
    ['another password', basic('postmark-hook:s3cret')],
    ['another user', basic('someone:s3cret:with-colon')],
    ['no password', basic('postmark-hook')],
    ['another scheme', `Bearer ${Buffer.from('postmark-hook:s3cret:with-colon').toString('base64')}`],
  ])('refuse %s with 401', (_what, header) => {
    expect(status(header)).toBe(401);
  });
});

describe('Postmark records', () => {
  const metadata = { Metadata: { cmis_message_id: '0123456789abcdef0123456789abcdef', campaign: 'spring' } };
  const ref = { cmisMessageId: '0123456789abcdef0123456789abcdef' };
  const bounce = (Type: string, extra: Record<string, unknown> = {}) => ({
    RecordType: 'Bounce',
    ID: 4323372036854775,
    Type,
    TypeCode: 1,
    Name: Type,
    MessageID: '883953f4-6105-42a2-a16a-77a8eac79483',
    MessageStream: 'outbound',
    Description: 'The server was unable to deliver your message (ex: unknown user, mailbox not found).',
    Details: 'smtp;550 5.1.1 The email account that you tried to reach does not exist.',
    Email: 'jane@example.org',
    From: 'news@shop.example',
    BouncedAt: '2024-05-01T12:00:00Z',
    ...metadata,
    ...extra,
  });

  it('map hard and soft bounce types, with the reply code from Details', () => {
    expect(parsePostmark(bounce('HardBounce'))).toEqual([
      {
        type: 'bounce',
        bounceType: 'hard',
        address: 'jane@example.org',
        reason: '550 5.1.1 The email account that you tried to reach does not exist.',
        smtpCode: 550,
        ref,
        source: 'postmark',
      },
    ]);
    expect(
      parsePostmark(
        bounce('SoftBounce', { Details: '', Description: 'Unable to temporarily deliver this email.' }),
      ),
    ).toEqual([
      {
        type: 'bounce',
        bounceType: 'soft',
        address: 'jane@example.org',
        reason: 'Unable to temporarily deliver this email.',
        ref,
        source: 'postmark',
      },
    ]);
    for (const [type, kind] of [
      ['BadEmailAddress', 'hard'],
      ['ManuallyDeactivated', 'hard'],
      ['Transient', 'soft'],
      ['DnsError', 'soft'],
      ['Blocked', 'soft'],
    ] as const)
      expect(parsePostmark(bounce(type))).toMatchObject([{ type: 'bounce', bounceType: kind }]);
  });

  it('ignore bounce types that say nothing about the address', () => {
    for (const type of [
      'AutoResponder',
      'AddressChange',
      'ChallengeVerification',
      'SMTPApiError',
      'DMARCPolicy',
      'Subscribe',
    ])
      expect(parsePostmark(bounce(type))).toEqual([]);
  });

  it('map spam complaints and deliveries, and the Message-ID among Headers when present', () => {
    const headers = { Headers: [{ Name: 'Message-ID', Value: '<abc@mail.example.com>' }] };
    expect(
      parsePostmark({ ...bounce('SpamComplaint', headers), RecordType: 'SpamComplaint', TypeCode: 512 }),
    ).toEqual([
      {
        type: 'complaint',
        address: 'jane@example.org',
        ref: { ...ref, smtpMessageId: '<abc@mail.example.com>' },
        source: 'postmark',
      },
    ]);
    expect(
      parsePostmark({
        RecordType: 'Delivery',
        ServerID: 23,
        MessageStream: 'outbound',
        MessageID: '883953f4-6105-42a2-a16a-77a8eac79483',
        Recipient: 'joe@example.com',
        DeliveredAt: '2024-05-01T12:00:00Z',
        Details: 'Test delivery webhook details',
        ...metadata,
      }),
    ).toEqual([
      {
        type: 'delivered',
        address: 'joe@example.com',
        ref,
        source: 'postmark',
        detail: 'Test delivery webhook details',
      },
    ]);
    expect(parsePostmark({ RecordType: 'Open', Recipient: 'joe@example.com' })).toEqual([]);
  });

  it('refuse records without a RecordType or an address with 400', () => {
    expect(() => parsePostmark({ Type: 'HardBounce' })).toThrow(expect.objectContaining({ status: 400 }));
    expect(() => parsePostmark(bounce('HardBounce', { Email: '' }))).toThrow(
      expect.objectContaining({ status: 400 }),
    );
    expect(() => parsePostmark('text')).toThrow(expect.objectContaining({ status: 400 }));
  });
});
