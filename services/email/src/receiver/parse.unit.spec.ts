import { MalformedMime, parseReceived } from './parse';

const message = [
  'From: Acme <news@acme.test>',
  'To: Ada <ada@example.com>, bob@example.com',
  'Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=',
  'Date: Tue, 03 Jun 2025 10:00:00 +0000',
  'Message-ID: <0123abcd@acme.test>',
  'List-Unsubscribe: <https://x.example/u/T>,',
  ' <mailto:unsub+T@x.example>',
  'MIME-Version: 1.0',
  'Content-Type: multipart/alternative; boundary="b"',
  '',
  '--b',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Hello Ada',
  '--b',
  'Content-Type: text/html; charset=utf-8',
  '',
  '<p>Hello <b>Ada</b></p>',
  '--b--',
  '',
].join('\r\n');

describe('parseReceived', () => {
  it('reads a message: envelope-free fields, both bodies, headers as received', async () => {
    const parsed = await parseReceived(Buffer.from(message));
    expect(parsed).toMatchObject({
      messageId: '<0123abcd@acme.test>',
      subject: 'Grüße',
      from: '"Acme" <news@acme.test>',
      to: ['ada@example.com', 'bob@example.com'],
      date: new Date('2025-06-03T10:00:00Z'),
      text: 'Hello Ada',
      html: '<p>Hello <b>Ada</b></p>',
    });
    expect(parsed.headers).toContainEqual(['subject', '=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=']);
    // Folded values are unfolded, nothing else.
    expect(parsed.headers).toContainEqual([
      'list-unsubscribe',
      '<https://x.example/u/T>, <mailto:unsub+T@x.example>',
    ]);
    expect(parsed.headers.map(([k]) => k)).toEqual([
      'from',
      'to',
      'subject',
      'date',
      'message-id',
      'list-unsubscribe',
      'mime-version',
      'content-type',
    ]);
  });

  it('a text-only message has no made-up HTML', async () => {
    const parsed = await parseReceived(Buffer.from('Subject: hi\r\n\r\nbody\r\n'));
    expect(parsed.text?.trim()).toBe('body');
    expect(parsed.html).toBeUndefined();
    expect(parsed.to).toEqual([]);
  });

  it.each([
    ['prose', Buffer.from('this is not a mime message at all\njust text')],
    ['nothing', Buffer.alloc(0)],
    ['binary', Buffer.from([0, 1, 2, 255, 254, 10, 13])],
    ['a body without headers', Buffer.from('\r\n\r\nbody only')],
  ])('%s is MalformedMime (mailparser itself accepts anything)', async (_what, raw) => {
    await expect(parseReceived(raw)).rejects.toBeInstanceOf(MalformedMime);
  });
});
