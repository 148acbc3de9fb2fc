// Helpers for the email specs: the service on the kit's infrastructure, a real SMTP server on
// loopback that records what it is handed (and can be told to answer 4xx/5xx or not at all per
// recipient), a fresh org with a key, and contact events published as triggers would.
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { contactsTopic, createTopicEnvelope, type EventEnvelope } from '@cmis/contracts';
import { startServiceProcess, type RunningServiceProcess } from '@cmis/platform';
import { testEnv, uniqueName, until } from '@cmis/testkit';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { createEmailService, type EmailServiceOptions } from '../service';

export { until };

export const ADMIN_TOKEN = 'email-spec-admin-token-0123456789';
export const SECRET = 'email-spec-tracking-secret-0123456789';

export interface ReceivedMail {
  envelopeFrom: string;
  recipients: string[];
  raw: Buffer;
  parsed: ParsedMail;
}

/** What the sink answers for a recipient: accept, a temporary or permanent failure. */
export type SinkAnswer = 'accept' | { code: number; message: string };

export interface SmtpSink {
  port: number;
  received: ReceivedMail[];
  /** How the sink answers DATA for a recipient (default accept); a function is asked per attempt. */
  answer: Map<string, SinkAnswer | (() => SinkAnswer)>;
  for(address: string): ReceivedMail[];
  close(): Promise<void>;
}

/** A header of a raw message as sent: unfolded, not decoded. */
export function rawHeader(raw: Buffer, name: string): string | undefined {
  const head = raw
    .toString('utf8')
    .split(/\r?\n\r?\n/)[0]!
    .replace(/\r?\n[ \t]+/g, ' ');
  const line = head.split(/\r?\n/).find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}

export async function startSmtpSink(): Promise<SmtpSink> {
  const received: ReceivedMail[] = [];
  const answer = new Map<string, SinkAnswer | (() => SinkAnswer)>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const recipients = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
        for (const r of recipients) {
          const planned = answer.get(r);
          const a = typeof planned === 'function' ? planned() : (planned ?? 'accept');
          if (a !== 'accept') {
            const error = Object.assign(new Error(a.message), { responseCode: a.code });
            return callback(error);
          }
        }
        const raw = Buffer.concat(chunks);
        simpleParser(raw).then(
          (parsed) => {
            received.push({
              envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              recipients,
              raw,
              parsed,
            });
            callback(null, 'queued as spec');
          },
          (error: Error) => callback(error),
        );
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    received,
    answer,
    for: (address) => received.filter((m) => m.recipients.includes(address.toLowerCase())),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export async function startEmail(
  sink: { port: number },
  options: EmailServiceOptions = {},
): Promise<RunningServiceProcess> {
  const env = testEnv();
  let url = '';
  const proc = await startServiceProcess(
    {
      service: uniqueName('email'),
      httpPort: 0,
      create: createEmailService({
        worker: { intervalMs: 100, ...options.worker },
        ...options,
        config: {
          publicUrl: () => url,
          secrets: [SECRET],
          defaultProvider: { name: 'spec-sink', host: '127.0.0.1', port: sink.port, secure: false },
          ...options.config,
        },
      }),
    },
    {
      KAFKA_BROKERS: env.kafkaBrokers!.join(','),
      SCHEMA_REGISTRY_URL: env.schemaRegistryUrl,
      DATABASE_URL: env.databaseUrl,
      REDIS_URL: env.redisUrl,
      CMIS_ADMIN_TOKEN: ADMIN_TOKEN,
      LOG_LEVEL: 'silent',
    },
  );
  url = proc.url;
  return proc;
}

// Response bodies are read loosely; each test asserts the shape it relies on.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = Record<string, any>;

export interface CallResult {
  status: number;
  headers: Headers;
  body: Json;
  text: string;
}

function parseLoosely(text: string): Json {
  try {
    return text ? (JSON.parse(text) as Json) : {};
  } catch {
    return { text };
  }
}

export function client(baseUrl: string) {
  return async (
    method: string,
    path: string,
    options: {
      bearer?: string;
      body?: unknown;
      headers?: Record<string, string>;
      redirect?: 'manual' | 'follow';
    } = {},
  ): Promise<CallResult> => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      redirect: options.redirect ?? 'manual',
      headers: {
        ...(options.body !== undefined && typeof options.body !== 'string'
          ? { 'content-type': 'application/json' }
          : {}),
        ...(options.bearer ? { authorization: `Bearer ${options.bearer}` } : {}),
        ...options.headers,
      },
      body:
        options.body === undefined
          ? undefined
          : typeof options.body === 'string'
            ? options.body
            : JSON.stringify(options.body),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: parseLoosely(text), text };
  };
}

/** A throwaway org with a key the service has already projected. */
export async function newOrg(
  proc: RunningServiceProcess,
  scopes = ['email:send', 'email:read', 'email:manage'],
) {
  const call = client(proc.url);
  const org = (await call('POST', '/admin/orgs', { bearer: ADMIN_TOKEN, body: { name: uniqueName('org') } }))
    .body;
  const key = (await call('POST', `/admin/orgs/${org.orgId}/keys`, { bearer: ADMIN_TOKEN, body: { scopes } }))
    .body;
  await until(
    () => call('GET', '/v1/templates', { bearer: key.key as string }),
    (r) => r.status !== 401,
  );
  return { orgId: org.orgId as string, key: key.key as string };
}

/** Publishes an event as its producer would (codec of the service: registry framing on Kafka). */
export async function publish(
  proc: RunningServiceProcess,
  topic: string,
  orgId: string,
  subject: string,
  type: string,
  data: unknown,
): Promise<string> {
  const id = randomUUID();
  const envelope = createTopicEnvelope(topic as never, {
    id,
    time: new Date().toISOString(),
    source: '/cmis/email-spec',
    type: type as never,
    subject,
    orgId,
    data: data as never,
  });
  const encoded = await proc.platform.codec.encode(topic, envelope as EventEnvelope);
  await proc.platform.bus.publish(topic, [
    { key: `${orgId}:${subject}`, value: encoded.value, headers: encoded.headers },
  ]);
  return id;
}

export const identify = (
  proc: RunningServiceProcess,
  orgId: string,
  userId: string,
  traits: Record<string, unknown>,
  context: Record<string, unknown> = {},
) =>
  publish(proc, contactsTopic.name, orgId, userId, 'cmis.triggers.contact-identified', {
    userId,
    traits,
    context,
    messageId: randomUUID(),
    timestamp: new Date().toISOString(),
    sourceId: 'spec-source',
  });
