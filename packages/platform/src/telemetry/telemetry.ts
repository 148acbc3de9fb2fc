import { context, propagation, trace, SpanKind, type Context, type Span } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { ExpressInstrumentation } from '@opentelemetry/instrumentation-express';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { OutgoingMessage } from '../bus/bus';

export interface TelemetryOptions {
  serviceName: string;
  /** OTLP/HTTP base endpoint, e.g. http://collector:4318; traces go to <endpoint>/v1/traces. */
  otlpEndpoint?: string;
  /** Extra processors (tests pass a SimpleSpanProcessor over an InMemorySpanExporter). */
  spanProcessors?: SpanProcessor[];
}

export interface Telemetry {
  shutdown(): Promise<void>;
}

/**
 * The service.name of a process: OTEL_SERVICE_NAME, SERVICE_NAME, else the service whose
 * `services/<name>/dist/main.js` is the entry script (else every service's spans say "cmis").
 */
export function serviceNameOf(env: NodeJS.ProcessEnv, entryScript?: string): string {
  const fromEntry = entryScript
    ?.replace(/\\/g, '/')
    .match(/(?:^|\/)services\/([a-z][a-z0-9-]*)\/dist\/main\.js$/)?.[1];
  return env.OTEL_SERVICE_NAME || env.SERVICE_NAME || fromEntry || 'cmis';
}

/**
 * Starts the OpenTelemetry NodeSDK with http/express, pg and ioredis instrumentation. Call it
 * before the instrumented modules are first required (main.ts does it on its first line), or
 * their calls go untraced.
 *
 * Kafka is traced by the platform itself, one span per message: a producer span per published
 * message (the relay's per event, the bus's for direct publishes, see startProducerSpan) and a
 * consumer span per consumed event, child of its producer span (the inbox's). kafkajs's own
 * instrumentation is not used: it stamps a whole produce request, whose messages the bus gathers
 * from many callers and traces, with one context, and it starts every fetched batch as a root
 * "poll" span of a trace of its own, so no action would stay one trace across a Kafka hop.
 */
export function startTelemetry(options: TelemetryOptions): Telemetry {
  const processors = [...(options.spanProcessors ?? [])];
  if (options.otlpEndpoint) {
    processors.push(
      new BatchSpanProcessor(
        new OTLPTraceExporter({ url: `${options.otlpEndpoint.replace(/\/$/, '')}/v1/traces` }),
      ),
    );
  }
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName }),
    spanProcessors: processors,
    textMapPropagator: new W3CTraceContextPropagator(),
    instrumentations: [
      new HttpInstrumentation(),
      new ExpressInstrumentation(),
      new PgInstrumentation(),
      new IORedisInstrumentation(),
    ],
  });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}

const tracer = () => trace.getTracer('cmis');

/**
 * Starts the producer span of one message, child of `parent` (the context the message was
 * caused in), and returns it with the traceparent/tracestate headers that carry it to the
 * consumer. End the span once the broker acked (or refused) the message.
 */
export function startProducerSpan(
  topic: string,
  attributes: Record<string, string | number>,
  parent: Context = context.active(),
): { span: Span; headers: Record<string, string> } {
  const span = tracer().startSpan(
    `publish ${topic}`,
    {
      kind: SpanKind.PRODUCER,
      attributes: { 'messaging.system': 'kafka', 'messaging.destination.name': topic, ...attributes },
    },
    parent,
  );
  const headers: Record<string, string> = {};
  propagation.inject(trace.setSpan(parent, span), headers);
  return { span, headers };
}

/**
 * Publishes through `send` with a producer span, child of the caller's context, for each message
 * that carries no trace context of its own (the relay's and ingest's carry theirs). Called where
 * the publish is asked for, before the bus gathers publishes of many callers into one request.
 */
export async function publishTraced(
  batches: Array<{ topic: string; messages: OutgoingMessage[] }>,
  send: (batches: Array<{ topic: string; messages: OutgoingMessage[] }>) => Promise<void>,
): Promise<void> {
  const spans: Span[] = [];
  const traced = batches.map(({ topic, messages }) => ({
    topic,
    messages: messages.map((message) => {
      if (message.headers?.traceparent !== undefined) return message;
      const { span, headers } = startProducerSpan(topic, {});
      spans.push(span);
      // Nothing to carry without a valid context (no SDK, no trace): the message goes as it is.
      return Object.keys(headers).length === 0
        ? message
        : { ...message, headers: { ...message.headers, ...headers } };
    }),
  }));
  if (spans.length === 0) return send(batches);
  try {
    await send(traced);
  } catch (error) {
    for (const span of spans) span.setStatus({ code: 2, message: (error as Error).message });
    throw error;
  } finally {
    for (const span of spans) span.end();
  }
}

/** traceparent/tracestate of the active span, to store with an event or send as headers. */
export function currentTraceHeaders(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

/** The context a message's traceparent/tracestate headers carry (the active one if absent). */
export function contextFromHeaders(headers: Record<string, string | undefined>): Context {
  return propagation.extract(context.active(), headers);
}

/**
 * Runs `work` in a span whose parent is the trace context carried by `headers`: batch
 * consumers call it per message so each event continues its own trace.
 */
export function withSpanFrom<T>(
  name: string,
  headers: Record<string, string | undefined>,
  kind: SpanKind,
  attributes: Record<string, string | number>,
  work: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer().startActiveSpan(name, { kind, attributes }, contextFromHeaders(headers), async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: 2, message: (error as Error).message });
      throw error;
    } finally {
      span.end();
    }
  });
}

export { SpanKind };
