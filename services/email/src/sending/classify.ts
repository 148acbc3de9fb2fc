// What a failed SMTP hand-off means for the message. nodemailer's errors carry `responseCode`
// (the server's reply code, when there was a reply), `code` (its own kind: EENVELOPE, EMESSAGE,
// ETIMEDOUT, ESOCKET, ECONNECTION, EDNS, ETLS, EAUTH, EPROTOCOL…) and `command` (the SMTP stage:
// CONN, EHLO, AUTH PLAIN, MAIL FROM, RCPT TO, DATA…).
//
// Only a 5xx about this recipient or this message (RCPT TO, DATA) is a bounce. A 5xx at any other
// stage (MAIL FROM refusing the VERP sender, AUTH refusing the org's credentials, a 554 greeting)
// says nothing about the recipient: bouncing would mark a good address bounced and suppress it,
// so it is deferred with its code, and the worker's attempt limit ends a refusal that lasts.
// Everything that is not a 5xx is deferred: the message is kept and tried again, nothing is lost.
import type { SendOutcome } from './smtp-sender';

export type FailedSend = Exclude<SendOutcome, { kind: 'accepted' }>;

interface NodemailerError {
  message?: unknown;
  code?: unknown;
  responseCode?: unknown;
  response?: unknown;
  command?: unknown;
}

/** The SMTP stages whose 5xx refuses this recipient or this message, not the sender or session. */
const RECIPIENT_STAGES: ReadonlySet<string> = new Set(['RCPT TO', 'DATA']);

export function classifySmtpError(error: unknown): FailedSend {
  if (typeof error !== 'object' || error === null) return { kind: 'deferred', reason: String(error) };
  const e = error as NodemailerError;
  const code = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  const command = typeof e.command === 'string' ? e.command : undefined;
  const reason = describe(e, command);
  if (code === undefined) return { kind: 'deferred', reason };
  // A missing stage cannot come from nodemailer (it names one whenever there was a reply); such an
  // error is taken at its word, as the reply to the message.
  if (code >= 500 && code < 600 && (command === undefined || RECIPIENT_STAGES.has(command)))
    return { kind: 'bounced', reason, smtpCode: code };
  return { kind: 'deferred', reason, smtpCode: code };
}

function describe(e: NodemailerError, command: string | undefined): string {
  const kind = typeof e.code === 'string' ? e.code : undefined;
  // The server's own words when it answered; nodemailer's message (which repeats them) otherwise.
  const text =
    typeof e.response === 'string' && e.response.trim() !== ''
      ? e.response.trim()
      : typeof e.message === 'string' && e.message !== ''
        ? e.message
        : 'unknown error';
  const where = [kind, command && `at ${command}`].filter(Boolean).join(' ');
  return where ? `${where}: ${text}` : text;
}
