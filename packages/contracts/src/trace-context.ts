/**
 * W3C trace context travels as Kafka headers beside the structured-mode envelope, so the
 * platform's telemetry can propagate it without touching the payload.
 */
export const TRACEPARENT_HEADER = 'traceparent';
export const TRACESTATE_HEADER = 'tracestate';

export interface TraceContext {
  traceparent: string;
  tracestate?: string;
}

/** Header values as kafkajs delivers them (Buffer on consume, string on produce). */
export type HeaderValue = Buffer | string | Array<Buffer | string> | undefined;
export type MessageHeaders = Record<string, HeaderValue>;

const TRACEPARENT = /^[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

/** First value of a header as a string, whatever shape kafkajs gave it. */
export function headerText(headers: MessageHeaders | undefined, name: string): string | undefined {
  const raw = headers?.[name];
  const first = Array.isArray(raw) ? raw[0] : raw;
  if (first === undefined) return undefined;
  return typeof first === 'string' ? first : first.toString('utf8');
}

/** Returns a copy of `headers` carrying `context`; an absent tracestate removes a stale one. */
export function withTraceContext<H extends MessageHeaders>(headers: H, context: TraceContext): H {
  const next: MessageHeaders = { ...headers, [TRACEPARENT_HEADER]: context.traceparent };
  if (context.tracestate === undefined) delete next[TRACESTATE_HEADER];
  else next[TRACESTATE_HEADER] = context.tracestate;
  return next as H;
}

/** The trace context on a message, or undefined when absent or malformed (then start a new trace). */
export function traceContextOf(headers: MessageHeaders | undefined): TraceContext | undefined {
  const traceparent = headerText(headers, TRACEPARENT_HEADER)?.trim().toLowerCase();
  if (traceparent === undefined || !TRACEPARENT.test(traceparent)) return undefined;
  const tracestate = headerText(headers, TRACESTATE_HEADER);
  return tracestate === undefined ? { traceparent } : { traceparent, tracestate };
}
