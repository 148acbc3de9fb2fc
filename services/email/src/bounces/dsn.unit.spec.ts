import { MalformedMessage, parseInboundReport } from './dsn';

const verp = 'bounces+0abc0def0ghi0jkl0mno0pqr0stu0vwx0yz012345@bounces.cmis.localhost';
const crlf = (text: string) => Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'utf8');

// Postfix: one recipient failed, one delayed; the original's headers returned as text/rfc822-headers.
const postfix = `Return-Path: <>
Received: by mx.example.net (Postfix) id 4F1C2A0123; Mon,  6 May 2024 10:15:02 +0000 (UTC)
Date: Mon,  6 May 2024 10:15:02 +0000 (UTC)
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: ${verp}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="4F1C2A0123.1714990502/mx.example.net"
Content-Transfer-Encoding: 8bit
Message-Id: <20240506101502.4F1C2A0124@mx.example.net>

This is a MIME-encapsulated message.

--4F1C2A0123.1714990502/mx.example.net
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

<jane@example.org>: host mx.example.org[198.51.100.25] said: 550 5.1.1
    <jane@example.org>: Recipient address rejected: User unknown in virtual
    mailbox table (in reply to RCPT TO command)

--4F1C2A0123.1714990502/mx.example.net
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
X-Postfix-Queue-ID: 4F1C2A0123
X-Postfix-Sender: rfc822; ${verp}
Arrival-Date: Mon,  6 May 2024 10:15:01 +0000 (UTC)

Final-Recipient: rfc822; jane@example.org
Original-Recipient: rfc822;jane@example.org
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.org
Diagnostic-Code: smtp; 550 5.1.1 <jane@example.org>: Recipient address
    rejected: User unknown in virtual mailbox table

Final-Recipient: rfc822; joe@slow.example.com
Original-Recipient: rfc822;joe@slow.example.com
Action: delayed
Status: 4.4.1
Diagnostic-Code: X-Postfix; connect to mx.slow.example.com[203.0.113.9]:25:
    Connection timed out

--4F1C2A0123.1714990502/mx.example.net
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers
Content-Transfer-Encoding: 8bit

Return-Path: <${verp}>
Received: from mail.cmis.localhost (mail.cmis.localhost [192.0.2.10])
\tby mx.example.net (Postfix) with ESMTPS id 4F1C2A0123
\tfor <jane@example.org>; Mon,  6 May 2024 10:15:01 +0000 (UTC)
Message-ID: <0123456789abcdef0123456789abcdef@mail.cmis.localhost>
X-CMIS-Message-Id: 0123456789abcdef0123456789abcdef
From: Shop <news@shop.example>
To: jane@example.org, joe@slow.example.com
Subject: Spring sale

--4F1C2A0123.1714990502/mx.example.net--
`;

// Exchange Online: the notification as multipart/alternative (quoted-printable, base64), the
// original returned whole as message/rfc822; LF line ends, as some relays store them.
const exchange = `Received: from EXCH01.corp.example.com (2603:10a6::1) by EXCH02.corp.example.com
 with Microsoft SMTP Server; Tue, 7 May 2024 08:01:10 +0000
From: Microsoft Outlook <postmaster@corp.example.com>
To: <${verp}>
Date: Tue, 7 May 2024 08:01:10 +0000
Content-Type: multipart/report; report-type="delivery-status";
\tboundary="a1b2c3d4-e5f6-7890-abcd-ef0123456789"
X-MS-Exchange-Message-Is-Ndr:
Content-Language: en-US
Message-ID: <a1b2c3d4-ndr@EXCH01.corp.example.com>
In-Reply-To: <fedcba9876543210fedcba9876543210@mail.cmis.localhost>
Subject: Undeliverable: Spring sale
MIME-Version: 1.0

--a1b2c3d4-e5f6-7890-abcd-ef0123456789
Content-Type: multipart/alternative; differences=Content-Type;
\tboundary="b2c3d4e5-f6a7-8901-bcde-f01234567890"

--b2c3d4e5-f6a7-8901-bcde-f01234567890
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

Your message to nobody@corp.example.com couldn't be delivered.=0D=0A=
nobody wasn't found at corp.example.com.
--b2c3d4e5-f6a7-8901-bcde-f01234567890
Content-Type: text/html; charset="us-ascii"
Content-Transfer-Encoding: base64

PGh0bWw+PGJvZHk+WW91ciBtZXNzYWdlIGNvdWxkbid0IGJlIGRlbGl2ZXJlZC48L2JvZHk+PC9odG1sPg==
--b2c3d4e5-f6a7-8901-bcde-f01234567890--

--a1b2c3d4-e5f6-7890-abcd-ef0123456789
Content-Type: message/delivery-status

Reporting-MTA: dns;EXCH01.corp.example.com
Received-From-MTA: dns;mail.cmis.localhost
Arrival-Date: Tue, 7 May 2024 08:01:09 +0000

Original-Recipient: rfc822;nobody@corp.example.com
Final-Recipient: rfc822;nobody@corp.example.com
Action: failed
Status: 5.1.10
Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not
 found by SMTP address lookup

--a1b2c3d4-e5f6-7890-abcd-ef0123456789
Content-Type: message/rfc822

Received: from mail.cmis.localhost (192.0.2.10) by EXCH01.corp.example.com
From: Shop <news@shop.example>
To: <nobody@corp.example.com>
Subject: Spring sale
Message-ID: <fedcba9876543210fedcba9876543210@mail.cmis.localhost>
MIME-Version: 1.0
Content-Type: text/plain

Spring sale!

--a1b2c3d4-e5f6-7890-abcd-ef0123456789--
`;

// Sendmail giving up after five days (failed, but 4.x.x), base64 delivery-status, no diagnostic.
const expired = `From: Mail Delivery Subsystem <MAILER-DAEMON@relay.example.com>
To: ${verp}
Subject: Returned mail: see transcript for details
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="x7Q.relay"

--x7Q.relay
Content-Type: text/plain

Message could not be delivered for 5 days.
--x7Q.relay
Content-Type: message/delivery-status
Content-Transfer-Encoding: base64

${Buffer.from('Reporting-MTA: dns; relay.example.com\n\nFinal-Recipient: RFC822; <ann@flaky.example>\nAction: failed\nStatus: 4.4.7\nLast-Attempt-Date: Sat, 11 May 2024 10:00:00 GMT\n').toString('base64')}
--x7Q.relay--
`;

// A success notification (NOTIFY=SUCCESS) from a relay that hands on to a system without DSNs.
const relayed = `From: postmaster@gw.example.com
To: ${verp}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary=b

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; gw.example.com

Final-Recipient: rfc822; a@gw.example.com
Action: relayed
Status: 2.0.0

Final-Recipient: rfc822; b@gw.example.com
Action: delivered
Status: 2.0.0
Diagnostic-Code: smtp; 250 2.0.0 OK queued as 77AB
--b--
`;

// ARF (RFC 5965 appendix B shape) from a mailbox provider's feedback loop.
const arf = (rcptTo: string) => `From: <feedback@fbl.mailbox.example>
Date: Thu, 9 May 2024 14:00:00 -0400
Subject: FW: Spring sale
To: <${verp}>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report;
     boundary="part1_13d.2e68ed54_boundary"

--part1_13d.2e68ed54_boundary
Content-Type: text/plain; charset="US-ASCII"
Content-Transfer-Encoding: 7bit

This is an email abuse report for an email message received from IP
192.0.2.10 on Thu, 9 May 2024 14:00:00 -0400.

--part1_13d.2e68ed54_boundary
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <${verp}>
${rcptTo}Arrival-Date: Thu, 9 May 2024 13:59:58 -0400
Reported-Domain: shop.example
Source-IP: 192.0.2.10

--part1_13d.2e68ed54_boundary
Content-Type: message/rfc822
Content-Disposition: inline

From: <news@shop.example>
To: Someone <someone@mailbox.example>
Subject: Spring sale
Message-ID: <0123456789abcdef0123456789abcdef@mail.cmis.localhost>
X-CMIS-Message-Id: 0123456789ABCDEF0123456789ABCDEF
Date: Thu, 9 May 2024 13:59:50 -0400

Spring sale!
--part1_13d.2e68ed54_boundary--
`;

async function malformed(raw: Buffer): Promise<string> {
  const error = await parseInboundReport(raw, verp).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MalformedMessage);
  return (error as Error).message;
}

describe('Inbound reports', () => {
  it('map a Postfix DSN: the failed recipient bounces hard, the delayed one is no report', async () => {
    expect(await parseInboundReport(crlf(postfix), verp)).toEqual([
      {
        type: 'bounce',
        bounceType: 'hard',
        address: 'jane@example.org',
        reason:
          '550 5.1.1 <jane@example.org>: Recipient address rejected: User unknown in virtual mailbox table',
        smtpCode: 550,
        ref: {
          smtpMessageId: '<0123456789abcdef0123456789abcdef@mail.cmis.localhost>',
          verpAddress: verp,
          cmisMessageId: '0123456789abcdef0123456789abcdef',
        },
        source: 'dsn',
      },
    ]);
  });

  it('map an Exchange NDR, LF line ends, nested alternative and the original as message/rfc822', async () => {
    expect(await parseInboundReport(Buffer.from(exchange), verp)).toEqual([
      {
        type: 'bounce',
        bounceType: 'hard',
        address: 'nobody@corp.example.com',
        reason: '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup',
        smtpCode: 550,
        ref: { smtpMessageId: '<fedcba9876543210fedcba9876543210@mail.cmis.localhost>', verpAddress: verp },
        source: 'dsn',
      },
    ]);
  });

  it('map a failure with a 4.x.x status to soft, from a base64 delivery-status part', async () => {
    expect(await parseInboundReport(crlf(expired), verp)).toEqual([
      {
        type: 'bounce',
        bounceType: 'soft',
        address: 'ann@flaky.example',
        reason: 'failed, status 4.4.7',
        ref: { verpAddress: verp },
        source: 'dsn',
      },
    ]);
  });

  it('map relayed and delivered recipients to delivered', async () => {
    expect(await parseInboundReport(crlf(relayed), verp)).toEqual([
      {
        type: 'delivered',
        address: 'a@gw.example.com',
        ref: { verpAddress: verp },
        source: 'dsn',
        detail: 'relayed',
      },
      {
        type: 'delivered',
        address: 'b@gw.example.com',
        ref: { verpAddress: verp },
        source: 'dsn',
        detail: '250 2.0.0 OK queued as 77AB',
      },
    ]);
  });

  it('map an ARF abuse report to a complaint of Original-Rcpt-To, else of the one To of the original', async () => {
    const ref = {
      smtpMessageId: '<0123456789abcdef0123456789abcdef@mail.cmis.localhost>',
      verpAddress: verp,
      cmisMessageId: '0123456789abcdef0123456789abcdef',
    };
    expect(await parseInboundReport(crlf(arf('Original-Rcpt-To: <user@mailbox.example>\n')), verp)).toEqual([
      { type: 'complaint', address: 'user@mailbox.example', feedbackType: 'abuse', ref, source: 'dsn' },
    ]);
    expect(await parseInboundReport(crlf(arf('')), verp)).toEqual([
      { type: 'complaint', address: 'someone@mailbox.example', feedbackType: 'abuse', ref, source: 'dsn' },
    ]);
    expect(
      await parseInboundReport(
        crlf(arf('').replace('Feedback-Type: abuse', 'Feedback-Type: not-spam')),
        verp,
      ),
    ).toEqual([]);
  });

  it('find no report in mail that is not one', async () => {
    const autoReply =
      'From: jane@example.org\r\nTo: x@y\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\nBack Monday.\r\n';
    expect(await parseInboundReport(Buffer.from(autoReply), verp)).toEqual([]);
    const mdn = crlf(relayed.replace('report-type=delivery-status', 'report-type=disposition-notification'));
    expect(await parseInboundReport(mdn, verp)).toEqual([]);
    const wrapped = crlf(
      `From: a@b\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=outer\n\n--outer\nContent-Type: text/plain\n\nsee attached\n--outer--\n`,
    );
    expect(await parseInboundReport(wrapped, verp)).toEqual([]);
  });

  it('find a report forwarded inside multipart/mixed', async () => {
    const forwarded = `From: forwarder@example.net\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=outer\n\n--outer\nContent-Type: text/plain\n\nFYI\n--outer\n${relayed.slice(relayed.indexOf('Content-Type: multipart/report'))}\n--outer--\n`;
    expect(await parseInboundReport(crlf(forwarded), verp)).toHaveLength(2);
  });

  it('refuse garbage, empty and truncated input as MalformedMessage', async () => {
    expect(
      await malformed(
        Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48]),
      ),
    ).toMatch(/not a header field/);
    expect(await malformed(Buffer.alloc(0))).toMatch(/empty/);
    expect(await malformed(Buffer.from('just some words\r\nand more\r\n'))).toMatch(/not a header field/);
    const raw = crlf(postfix);
    expect(await malformed(raw.subarray(0, Math.floor(raw.length * 0.6)))).toMatch(/truncated/);
  });

  it('refuse reports that do not say what they must as MalformedMessage', async () => {
    expect(
      await malformed(
        crlf(postfix.replace('\tboundary="4F1C2A0123.1714990502/mx.example.net"', '\tcharset=us-ascii')),
      ),
    ).toMatch(/without a boundary/);
    expect(
      await malformed(
        crlf(postfix.replace('Content-Type: message/delivery-status', 'Content-Type: text/plain')),
      ),
    ).toMatch(/without a message\/delivery-status part/);
    expect(await malformed(crlf(postfix.replace('Final-Recipient: rfc822; jane@example.org\n', '')))).toMatch(
      /Final-Recipient or Action/,
    );
    expect(await malformed(crlf(postfix.replace('Action: failed', 'Action: exploded')))).toMatch(
      /unknown Action exploded/,
    );
    expect(
      await malformed(crlf(postfix.replace('rfc822; jane@example.org\nOriginal', 'rfc822; jane\nOriginal'))),
    ).toMatch(/not an address/);
    expect(await malformed(crlf(arf('').replace('Feedback-Type: abuse\n', '')))).toMatch(/Feedback-Type/);
    expect(
      await malformed(
        crlf(arf('').replace('To: Someone <someone@mailbox.example>', 'To: undisclosed-recipients:;')),
      ),
    ).toMatch(/names no recipient/);
    expect(
      await malformed(
        crlf(
          exchange
            .replace('Content-Transfer-Encoding: base64', 'Content-Transfer-Encoding: x-uuencode')
            .replace(
              'Content-Type: message/delivery-status',
              'Content-Type: message/delivery-status\nContent-Transfer-Encoding: x-uuencode',
            ),
        ),
      ),
    ).toMatch(/unknown Content-Transfer-Encoding/);
  });
});
