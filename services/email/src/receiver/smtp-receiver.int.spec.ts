// The receiver as a sending MTA sees it, driven by nodemailer's bare SMTP client so a test can
// send what no well-behaved sender would: a null reverse-path, bytes that are not MIME.
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { startSmtpReceiver, type ReceivedEmail, type SmtpReceiver } from './smtp-receiver';

const receivers: SmtpReceiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

async function receiver(onMessage: (email: ReceivedEmail) => Promise<void>): Promise<SmtpReceiver> {
  const r = await startSmtpReceiver({ port: 0, onMessage });
  receivers.push(r);
  return r;
}

/** One SMTP session: connect, optionally AUTH, send, and leave the session open for the caller. */
async function session(port: number, auth?: { user: string; pass: string }) {
  const connection = new SMTPConnection({ host: '127.0.0.1', port, ignoreTLS: true, socketTimeout: 5_000 });
  connection.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    connection.once('error', reject);
    connection.connect(() => resolve());
  });
  if (auth)
    await new Promise<void>((resolve, reject) =>
      connection.login(auth, (err) => (err ? reject(err) : resolve())),
    );
  const send = (envelope: { from: string; to: string[] }, raw: string) =>
    new Promise<SMTPConnection.SentMessageInfo>((resolve, reject) =>
      connection.send(envelope, raw, (err, info) => (err ? reject(err) : resolve(info))),
    );
  const ended = new Promise<void>((resolve) => connection.once('end', () => resolve()));
  return { send, ended, quit: () => connection.quit() };
}

describe('SMTP receiver', () => {
  it('hands over a DSN from the null reverse-path with its recipients, any AUTH accepted', async () => {
    const inbox: ReceivedEmail[] = [];
    const r = await receiver(async (m) => void inbox.push(m));
    const s = await session(r.port, { user: 'anyone', pass: 'anything' });
    const dsn = 'From: MAILER-DAEMON@mx.example\r\nSubject: Undelivered\r\n\r\nsorry\r\n';
    await s.send({ from: '', to: ['bounces+abc@bounce.acme.test'] }, dsn);
    s.quit();
    await s.ended;

    expect(inbox).toEqual([
      {
        envelopeFrom: undefined,
        recipients: ['bounces+abc@bounce.acme.test'],
        raw: Buffer.from(dsn),
        remoteAddress: '127.0.0.1',
      },
    ]);
  });

  it('hands over bytes that are not MIME as they came: parsing is the consumer’s call', async () => {
    const inbox: ReceivedEmail[] = [];
    const r = await receiver(async (m) => void inbox.push(m));
    const s = await session(r.port);
    const info = await s.send(
      { from: 'x@example.com', to: ['dev@example.com'] },
      'no headers, just words\r\n',
    );
    s.quit();

    expect(info.response).toMatch(/^250/);
    expect(inbox.map((m) => m.raw.toString())).toEqual(['no headers, just words\r\n']);
  });

  it('close() lets a handover in progress finish, ends idle sessions without waiting, and refuses new mail', async () => {
    let finish!: () => void;
    const stored: string[] = [];
    const r = await startSmtpReceiver({
      port: 0,
      onMessage: (m) =>
        new Promise<void>((resolve) => {
          finish = () => {
            stored.push(m.recipients[0]!);
            resolve();
          };
        }),
    });
    const busy = await session(r.port);
    const idle = await session(r.port);
    const sent = busy.send({ from: 'x@example.com', to: ['slow@example.com'] }, 'Subject: s\r\n\r\nbody\r\n');
    await new Promise((resolve) => setTimeout(resolve, 100)); // the DATA is with onMessage now

    const started = Date.now();
    const closed = r.close();
    await expect(session(r.port)).rejects.toThrow(/ECONNREFUSED/);
    await idle.ended; // the idle session is ended at once, not after the grace period
    expect(Date.now() - started).toBeLessThan(1_000);
    finish();
    expect((await sent).response).toMatch(/^250/);
    await closed;
    expect(stored).toEqual(['slow@example.com']);
  });
});
