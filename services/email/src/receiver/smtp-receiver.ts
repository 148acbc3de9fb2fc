// The service's own SMTP server: the local dev inbox (the default provider of `cmis up`) and the
// mailbox of the VERP return paths, where DSNs and feedback reports arrive. It only receives and
// hands over: each message goes to onMessage raw, with its envelope, before the 250.
//
// - AUTH is optional and any credentials are accepted: a dev sink and a bounce mailbox have no
//   users, and refusing a provider's AUTH would only lose its reports.
// - No STARTTLS unless a key and certificate are given (a built-in test certificate is no TLS).
// - Not parseable MIME is handed over all the same: what it means is the consumer's call
//   (parse.ts names it MalformedMime), and refusing it would not make the sender send a better one.
// - onMessage failing is a 451: the sending MTA keeps the message and retries, nothing is lost.
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';

export interface ReceivedEmail {
  /** MAIL FROM; undefined for the null reverse-path `<>` that DSNs are sent with. */
  envelopeFrom: string | undefined;
  /** RCPT TO, as the client wrote them. */
  recipients: string[];
  raw: Buffer;
  remoteAddress?: string;
}

export interface SmtpReceiver {
  port: number;
  /**
   * Stops listening and ends every session with 421: idle ones at once, one in DATA right after its
   * reply (waiting at most 10 s for onMessage). Resolves once every session is gone.
   */
  close(): Promise<void>;
}

export interface ReceiverLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface SmtpReceiverOptions {
  /** Default 127.0.0.1: the dev inbox is for this machine. */
  host?: string;
  /** 0 takes any free port (see SmtpReceiver.port). */
  port: number;
  /** Larger messages get 552; default 10 MiB. */
  maxBytes?: number;
  /** An idle session is closed after this; default 60 s. */
  socketTimeoutMs?: number;
  /** Enables STARTTLS. */
  tls?: { key: string | Buffer; cert: string | Buffer };
  onMessage(email: ReceivedEmail): Promise<void>;
  logger?: ReceiverLogger;
}

/** How long close() waits for handovers in progress before it ends their sessions with 421. */
const CLOSE_GRACE_MS = 10_000;

class ReplyError extends Error {
  override name = 'ReplyError';
  constructor(
    readonly responseCode: number,
    message: string,
  ) {
    super(message);
  }
}

export async function startSmtpReceiver(options: SmtpReceiverOptions): Promise<SmtpReceiver> {
  const maxBytes = options.maxBytes ?? 10 * 1024 * 1024;
  const logger: ReceiverLogger = options.logger ?? { warn: () => undefined, error: () => undefined };
  /** Handovers in progress, by session id. */
  const handing = new Map<string, Promise<void>>();
  let closing = false;

  const receive = (
    stream: SMTPServerDataStream,
    session: SMTPServerSession,
    done: (err?: Error | null) => void,
  ) => {
    // A message counts as being handed over from DATA on, so close() does not cut it off.
    let release!: () => void;
    const handover = new Promise<void>((resolve) => (release = resolve));
    handing.set(session.id, handover);
    let replied = false;
    const reply = (error?: Error) => {
      if (replied) return;
      replied = true;
      handing.delete(session.id);
      release();
      done(error ?? null);
    };
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => {
      // Past the limit the rest is drained, not kept.
      if (!stream.sizeExceeded) chunks.push(chunk);
    });
    // The client went away mid-message: nothing was received, nothing to hand over.
    stream.once('error', (error) => reply(error));
    stream.once('end', () => {
      if (stream.sizeExceeded)
        return reply(new ReplyError(552, `message exceeds the maximum size of ${maxBytes} bytes`));
      const { mailFrom, rcptTo } = session.envelope;
      const email: ReceivedEmail = {
        envelopeFrom: mailFrom && mailFrom.address !== '' ? mailFrom.address : undefined,
        recipients: rcptTo.map((r) => r.address),
        raw: Buffer.concat(chunks),
        remoteAddress: session.remoteAddress,
      };
      options.onMessage(email).then(
        () => reply(),
        (error: unknown) => {
          logger.error(
            { err: error, envelopeFrom: email.envelopeFrom, recipients: email.recipients },
            'received mail not handed over; replied 451 so the sender retries',
          );
          reply(new ReplyError(451, 'message not stored, try again later'));
        },
      );
    });
    stream.once('close', () => {
      if (!stream.readableEnded)
        reply(new Error('connection closed before the message was received in full'));
    });
  };

  const server = new SMTPServer({
    banner: 'CMIS mail receiver',
    logger: false,
    authOptional: true,
    allowInsecureAuth: true,
    onAuth: (auth, _session, callback) => callback(null, { user: auth.username ?? 'anonymous' }),
    ...(options.tls ? { key: options.tls.key, cert: options.tls.cert } : { disabledCommands: ['STARTTLS'] }),
    size: maxBytes,
    socketTimeout: options.socketTimeoutMs ?? 60_000,
    closeTimeout: CLOSE_GRACE_MS,
    onMailFrom: (_address, _session, callback) =>
      callback(closing ? new ReplyError(421, 'shutting down, try again later') : null),
    onData: receive,
  });
  // Client resets and protocol errors surface here; without a listener they would crash the process.
  server.on('error', (error) => logger.warn({ err: error }, 'SMTP receiver session error'));

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => {
      server.server.off('error', reject);
      resolve();
    });
  });

  return {
    port: (server.server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        server.close(() => resolve());
        // A session between messages (a sender's idle pooled connection) would hold close() for the
        // whole grace period: it is ended now. One in DATA is ended right after its reply.
        const end = (session: { send(code: number, text: string): void; close(): void }) => {
          session.send(421, 'shutting down');
          session.close();
        };
        for (const session of server.connections) {
          const handover = handing.get(session.id);
          if (handover) void handover.then(() => end(session));
          else end(session);
        }
      }),
  };
}
