/**
 * Run as its own Node process by trace-continuity.int.spec.ts: OpenTelemetry instruments
 * modules as they are first required, which jest's module loader bypasses. It serves one
 * HTTP request that appends an event, relays it, consumes it, appends and relays a second
 * event, consumes that, and prints every finished span as JSON lines.
 */
import { randomUUID } from 'node:crypto';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { startTelemetry } from './telemetry';

async function main(): Promise<void> {
  const exporter = new InMemorySpanExporter();
  const telemetry = startTelemetry({
    serviceName: 'trace-fixture',
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  // Loaded only now, so http, express, pg and kafkajs are instrumented.
  const p = await import('../index');
  const { createCodec, userActionsTopic, contactsTopic } = await import('@cmis/contracts');
  const env = process.env;
  const codec = createCodec({ registryUrl: env.SCHEMA_REGISTRY_URL });
  const bus = p.createKafkaBus({ brokers: env.KAFKA_BROKERS!.split(','), clientId: 'trace-fixture' });
  const topics = [userActionsTopic, contactsTopic];
  await bus.ensureTopics(
    topics.flatMap((t) => [
      { topic: t.name, numPartitions: t.partitions },
      { topic: t.deadLetterTopic, numPartitions: t.partitions },
    ]),
  );
  const db = p.createDatabase({ url: env.DATABASE_URL!, schema: env.FIXTURE_SCHEMA! });
  await db.migrate(p.platformMigrations);
  const store = p.createEventStore(db);
  const relay = p.createOutboxRelay({ db, bus, codec, source: '/cmis/fixture', pollIntervalMs: 20 });
  relay.start();
  const orgId = env.FIXTURE_ORG!;
  const data = (userId: string) => ({
    userId,
    context: {},
    messageId: randomUUID(),
    timestamp: new Date().toISOString(),
    sourceId: 'src',
  });

  let finish: () => void = () => undefined;
  const finished = new Promise<void>((r) => (finish = r));
  // Hop 1: the action arrives; the consumer reacts by identifying the contact (hop 2).
  const first = await p.startInbox({
    bus,
    db,
    codec,
    groupId: `${env.FIXTURE_SCHEMA}-actions`,
    topics: [userActionsTopic.name],
    handle: async ({ envelope }, { trx }) => {
      if (envelope.orgId !== orgId) return;
      await store.append(trx, {
        orgId,
        streamType: 'contact-identity',
        streamId: envelope.subject,
        expectedVersion: 'any',
        events: [
          {
            id: randomUUID(),
            type: 'cmis.triggers.contact-identified',
            data: { ...data(envelope.subject), traits: { seen: true } },
            metadata: {
              ...p.currentTraceHeaders(),
              correlationId: envelope.correlationId,
              causationId: envelope.id,
            },
            topic: contactsTopic.name,
            occurredAt: new Date(),
          },
        ],
      });
    },
  });
  const second = await p.startInbox({
    bus,
    db,
    codec,
    groupId: `${env.FIXTURE_SCHEMA}-contacts`,
    topics: [contactsTopic.name],
    handle: async ({ envelope }) => {
      if (envelope.orgId === orgId) finish();
    },
  });

  const logger = p.createLogger({ service: 'fixture', level: 'silent' });
  const app = p.createHttpApp({
    logger,
    metrics: p.createMetrics({ service: 'fixture', defaultMetrics: false }),
    routes: (a) =>
      a.post(
        '/track',
        p.asyncHandler(async (_req, res) => {
          await p.withOrg(db.app, orgId, (trx) =>
            store.append(trx, {
              orgId,
              streamType: 'contact-actions',
              streamId: 'contact-1',
              expectedVersion: 'any',
              events: [
                {
                  id: randomUUID(),
                  type: 'cmis.triggers.action-tracked',
                  data: { ...data('contact-1'), event: 'Signed Up', properties: {} },
                  metadata: p.currentTraceHeaders(),
                  topic: userActionsTopic.name,
                  occurredAt: new Date(),
                },
              ],
            }),
          );
          relay.wake();
          res.status(202).json({ accepted: true });
        }),
      ),
  });
  const server = await p.startHttpServer(app, 0, '127.0.0.1');
  const response = await fetch(`${server.url}/track`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent: env.FIXTURE_TRACEPARENT! },
    body: '{}',
  });
  if (response.status !== 202) throw new Error(`track answered ${response.status}`);
  await Promise.race([
    finished,
    new Promise((_, reject) => setTimeout(() => reject(new Error('second hop never consumed')), 45_000)),
  ]);

  await server.close();
  await first.stop();
  await second.stop();
  await relay.stop();
  await bus.close();
  await db.destroy();
  // Read before shutdown: shutting the SDK down empties the in-memory exporter.
  const spans = exporter.getFinishedSpans();
  await telemetry.shutdown();
  const lines = spans.map((span) =>
    JSON.stringify({
      name: span.name,
      kind: span.kind,
      traceId: span.spanContext().traceId,
      spanId: span.spanContext().spanId,
      parentSpanId: span.parentSpanContext?.spanId,
    }),
  );
  // Exit only once stdout is flushed: a pipe is written asynchronously, and exit would cut it.
  await new Promise<void>((resolve) => process.stdout.write(`${lines.join('\n')}\n`, () => resolve()));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
