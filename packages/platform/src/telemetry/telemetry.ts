import { context, propagation, trace, SpanKind, type Context, type Span } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { ExpressInstrumentation } from '@opentelemetry/instrumentation-express';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { KafkaJsInstrumentation } from '@opentelemetry/instrumentation-kafkajs';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

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
 * Starts the OpenTelemetry NodeSDK with http/express, pg, ioredis and kafkajs
 * instrumentation. Call it before the instrumented modules are first required (main.ts
 * does it on its first line), or their calls go untraced.
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
      new KafkaJsInstrumentation({ producerHook: restoreCarriedTraceContext }),
    ],
  });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}

const tracer = () => trace.getTracer('cmis');

/**
 * The outbox relay sends many events, each from its own trace, in one kafkajs call; the
 * kafkajs instrumentation would stamp them all with the relay's context. The relay puts each
 * event's own context in these headers too, and this hook puts it back after the
 * instrumentation injected its own.
 */
export const CARRIED_TRACEPARENT = 'cmis-traceparent';
export const CARRIED_TRACESTATE = 'cmis-tracestate';

function restoreCarriedTraceContext(
  _span: unknown,
  info: { message: { headers?: Record<string, unknown> } },
): void {
  const headers = info.message.headers;
  const carried = headers?.[CARRIED_TRACEPARENT];
  if (!headers || carried === undefined) return;
  headers.traceparent = carried;
  if (headers[CARRIED_TRACESTATE] !== undefined) headers.tracestate = headers[CARRIED_TRACESTATE];
  else delete headers.tracestate;
  delete headers[CARRIED_TRACEPARENT];
  delete headers[CARRIED_TRACESTATE];
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
