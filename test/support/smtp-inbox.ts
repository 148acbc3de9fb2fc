// A real SMTP server (smtp-server) on loopback for the end-to-end tests that send email: it keeps
// every message it accepted with its Message-ID and the email service's X-CMIS-Message-Id, so a
// test can count what arrived per message (a copy resent under the same Message-ID is counted,
// and a receiver that deduplicates by Message-ID would drop it).
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  to: string[];
  /** The Message-ID header, as sent. */
  messageIdHeader: string | undefined;
  /** X-CMIS-Message-Id: the email service's message id (derived from org and idempotency key). */
  cmisMessageId: string | undefined;
  receivedAt: number;
}

export interface SmtpInbox {
  readonly url: string;
  readonly received: ReceivedMail[];
  /** Connection errors the server reported (a reset by a sender that was killed). */
  readonly errors: Error[];
  close(): Promise<void>;
}

const headerOf = (head: string, name: string) =>
  new RegExp(`^${name}:[ \\t]*(.+)$`, 'im').exec(head)?.[1]?.trim();

export async function startSmtpInbox(): Promise<SmtpInbox> {
  const received: ReceivedMail[] = [];
  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', callback);
      stream.on('end', () => {
        // Only the header block is read: the headers are all a count needs.
        const raw = Buffer.concat(chunks).toString('utf8');
        const end = raw.search(/\r?\n\r?\n/);
        const head = end < 0 ? raw : raw.slice(0, end);
        received.push({
          to: session.envelope.rcptTo.map((r) => r.address),
          messageIdHeader: headerOf(head, 'Message-ID'),
          cmisMessageId: headerOf(head, 'X-CMIS-Message-Id'),
          receivedAt: Date.now(),
        });
        callback();
      });
    },
  });
  // A sender killed mid-session (the chaos test SIGKILLs email) resets its connection: the server
  // emits that as an 'error', which unhandled would fail the test that killed it on purpose.
  const errors: Error[] = [];
  smtp.on('error', (error: Error) => errors.push(error));
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
  const port = (smtp.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    errors,
    close: () => new Promise<void>((r) => smtp.close(() => r())),
  };
}
