// Hands one message to an org's SMTP provider through a pooled nodemailer transport and says what
// became of it. `send` never throws for SMTP or network trouble: every failure is an outcome
// (classify.ts), so the caller records it and nothing is lost.
//
// Exactly once, as far as SMTP allows: the caller fixes the Message-ID (from the idempotency key)
// and the pool never re-sends on its own (maxRequeues 0), so every repeat is the caller's recorded
// retry under the same Message-ID. The window SMTP leaves open is a reply lost after the server
// took the message (a socket timeout after DATA): that reads as deferred and is sent again.
import { createHash, createPrivateKey } from 'node:crypto';
import nodemailer, { type Transporter } from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool';
import { classifySmtpError } from './classify';

export { classifySmtpError } from './classify';

export interface ProviderSettings {
  name: string;
  host: string;
  port: number;
  /** Implicit TLS (smtps, usually port 465). */
  secure: boolean;
  /** Refuse to send unless the server upgrades with STARTTLS. */
  requireTls?: boolean;
  auth?: { user: string; pass: string };
  tls?: { rejectUnauthorized?: boolean; servername?: string };
  maxConnections?: number;
  /** Sends a second through this provider, across orgs (the send worker's throttle; not the transport's). */
  sendsPerSecond?: number;
}

export interface DkimKey {
  domainName: string;
  keySelector: string;
  /** PEM; RSA (nodemailer signs rsa-sha256 only). */
  privateKey: string;
}

export interface OutgoingEmail {
  from: { address: string; name?: string };
  to: { address: string; name?: string };
  replyTo?: string;
  subject: string;
  html?: string;
  text: string;
  /** The full header value, `<id@domain>`; see messageIdFor. */
  messageId: string;
  /** The VERP return path (MAIL FROM), where bounces for this message arrive. */
  envelopeFrom: string;
  /** Added as given: List-Unsubscribe, List-Unsubscribe-Post, X-CMIS-Message-Id, … */
  headers: Record<string, string>;
  dkim?: DkimKey;
  date?: Date;
}

export type SendOutcome =
  | { kind: 'accepted'; response: string }
  | { kind: 'deferred'; reason: string; smtpCode?: number }
  | { kind: 'bounced'; reason: string; smtpCode: number };

export interface SmtpSender {
  send(provider: ProviderSettings, email: OutgoingEmail): Promise<SendOutcome>;
  /** Closes every transport; waits for sends in flight (bounded by the timeouts) to settle. */
  close(): Promise<void>;
}

export interface SmtpSenderOptions {
  /** TCP connect (and DNS lookup) bound; default 10 s. */
  connectionTimeoutMs?: number;
  /** From connect to the server's greeting; default 10 s. */
  greetingTimeoutMs?: number;
  /** Inactivity bound for every later reply; default 30 s. */
  socketTimeoutMs?: number;
  /** Messages one pooled connection carries before it is replaced; default 100. */
  maxMessagesPerConnection?: number;
  /** A transport unused this long is closed on the next send (settings changed or org gone); default 5 min. */
  idleTransportMs?: number;
}

/** The Message-ID header value of a message: its stable id at the sending domain. */
export function messageIdFor(id: string, domain: string): string {
  return `<${id}@${domain}>`;
}

/**
 * nodemailer's default list (RFC 4871 §5.5, without the Resent-* fields we never set) plus
 * List-Unsubscribe-Post: RFC 8058 requires both List-* headers of one-click unsubscribe to be
 * signed, and the default list lacks the -Post one. Fields absent from a message are left out of h=.
 */
export const DKIM_SIGNED_HEADERS = [
  'From',
  'Sender',
  'Reply-To',
  'Subject',
  'Date',
  'Message-ID',
  'To',
  'Cc',
  'MIME-Version',
  'Content-Type',
  'Content-Transfer-Encoding',
  'Content-ID',
  'Content-Description',
  'In-Reply-To',
  'References',
  'List-Id',
  'List-Help',
  'List-Unsubscribe',
  'List-Unsubscribe-Post',
  'List-Subscribe',
  'List-Post',
  'List-Owner',
  'List-Archive',
].join(':');

interface PooledTransport {
  transport: Transporter<SMTPPool.SentMessageInfo>;
  inFlight: number;
  lastUsedAt: number;
}

export function createSmtpSender(options: SmtpSenderOptions = {}): SmtpSender {
  const connectionTimeout = options.connectionTimeoutMs ?? 10_000;
  const greetingTimeout = options.greetingTimeoutMs ?? 10_000;
  const socketTimeout = options.socketTimeoutMs ?? 30_000;
  const maxMessages = options.maxMessagesPerConnection ?? 100;
  const idleTransportMs = options.idleTransportMs ?? 5 * 60_000;
  const transports = new Map<string, PooledTransport>();
  const sending = new Set<Promise<SendOutcome>>();
  let closed = false;

  const transportFor = (provider: ProviderSettings): PooledTransport => {
    const key = settingsKey(provider);
    const now = Date.now();
    // Changed settings hash to a new key; the transport of the old ones is closed once idle.
    for (const [other, pooled] of transports)
      if (other !== key && pooled.inFlight === 0 && now - pooled.lastUsedAt > idleTransportMs) {
        pooled.transport.close();
        transports.delete(other);
      }
    let pooled = transports.get(key);
    if (!pooled) {
      const settings: SMTPPool.Options & { maxRequeues: number } = {
        pool: true,
        host: provider.host,
        port: provider.port,
        secure: provider.secure,
        requireTLS: provider.requireTls ?? false,
        ...(provider.auth ? { auth: { user: provider.auth.user, pass: provider.auth.pass } } : {}),
        ...(provider.tls ? { tls: { ...provider.tls } } : {}),
        maxConnections: provider.maxConnections ?? 5,
        maxMessages,
        connectionTimeout,
        dnsTimeout: connectionTimeout,
        greetingTimeout,
        socketTimeout,
        // A connection lost mid-message must not be re-sent by the pool behind the caller's back.
        maxRequeues: 0,
        // Content comes from orgs' templates: it must not read local files or fetch URLs.
        disableFileAccess: true,
        disableUrlAccess: true,
        logger: false,
      };
      pooled = { transport: nodemailer.createTransport(settings), inFlight: 0, lastUsedAt: now };
      // Failures reach each send's callback; an 'error' without a listener would crash the process.
      pooled.transport.on('error', () => undefined);
      transports.set(key, pooled);
    }
    return pooled;
  };

  const handOver = async (pooled: PooledTransport, email: OutgoingEmail): Promise<SendOutcome> => {
    try {
      const info = await pooled.transport.sendMail({
        from: { address: email.from.address, name: email.from.name ?? '' },
        to: { address: email.to.address, name: email.to.name ?? '' },
        ...(email.replyTo ? { replyTo: email.replyTo } : {}),
        subject: email.subject,
        text: email.text,
        ...(email.html !== undefined ? { html: email.html } : {}),
        messageId: email.messageId,
        ...(email.date ? { date: email.date } : {}),
        envelope: { from: email.envelopeFrom, to: [email.to.address] },
        headers: email.headers,
        ...(email.dkim
          ? {
              dkim: {
                domainName: email.dkim.domainName,
                keySelector: email.dkim.keySelector,
                privateKey: email.dkim.privateKey,
                headerFieldNames: DKIM_SIGNED_HEADERS,
              },
            }
          : {}),
      });
      // With one recipient a RCPT TO refusal arrives as an error; an LMTP-style per-recipient
      // refusal after DATA arrives here instead.
      const refused = info.rejected.length > 0 && info.accepted.length === 0;
      if (refused) {
        const errors = (info as { rejectedErrors?: unknown[] }).rejectedErrors;
        return classifySmtpError(errors?.[0] ?? new Error(`recipient refused: ${info.response}`));
      }
      return { kind: 'accepted', response: info.response };
    } catch (error) {
      return classifySmtpError(error);
    }
  };

  return {
    async send(provider, email) {
      if (closed) return { kind: 'deferred', reason: 'the SMTP sender is closed; nothing was handed over' };
      // nodemailer sends unsigned when it cannot sign; a message must never leave unsigned by accident.
      const keyProblem = email.dkim && unusableDkimKey(email.dkim.privateKey);
      if (keyProblem) return { kind: 'deferred', reason: `DKIM key unusable, nothing sent: ${keyProblem}` };
      const pooled = transportFor(provider);
      pooled.inFlight += 1;
      const outcome = handOver(pooled, email).finally(() => {
        pooled.inFlight -= 1;
        pooled.lastUsedAt = Date.now();
        sending.delete(outcome);
      });
      sending.add(outcome);
      return outcome;
    },
    async close() {
      closed = true;
      // Messages queued for a connection fail ('Connection pool was closed': deferred); those on a
      // connection finish, and their connection closes after them.
      for (const pooled of transports.values()) pooled.transport.close();
      transports.clear();
      await Promise.allSettled([...sending]);
    },
  };
}

function settingsKey(p: ProviderSettings): string {
  // Fixed order, every field that changes the connection; the name is only a label.
  const canonical = [
    p.host.toLowerCase(),
    p.port,
    p.secure,
    p.requireTls ?? false,
    p.auth?.user ?? null,
    p.auth?.pass ?? null,
    p.tls?.rejectUnauthorized ?? null,
    p.tls?.servername ?? null,
    p.maxConnections ?? null,
  ];
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex');
}

// Checked once per key, not per send (parsing a PEM costs more than signing with it).
const checkedDkimKeys = new Map<string, string | undefined>();
const MAX_CHECKED_KEYS = 1_000;

function unusableDkimKey(pem: string): string | undefined {
  if (checkedDkimKeys.has(pem)) return checkedDkimKeys.get(pem);
  const problem = checkDkimKey(pem);
  if (checkedDkimKeys.size >= MAX_CHECKED_KEYS) checkedDkimKeys.clear();
  checkedDkimKeys.set(pem, problem);
  return problem;
}

function checkDkimKey(pem: string): string | undefined {
  try {
    const key = createPrivateKey(pem);
    return key.asymmetricKeyType === 'rsa'
      ? undefined
      : `a ${key.asymmetricKeyType} key; rsa-sha256 needs RSA`;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
