import { isSpanContextValid, trace } from '@opentelemetry/api';
import pino from 'pino';
import type { LogLevel } from '../config';

export type Logger = pino.Logger;

export interface LoggerOptions {
  service: string;
  level?: LogLevel;
  /** Where lines go; stdout by default. Tests pass a stream they read back. */
  destination?: pino.DestinationStream;
}

// Credentials that can end up in a logged object; pino replaces them before serialising.
const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers.cookie',
  'headers["x-api-key"]',
  '*.password',
  '*.apiKey',
  '*.secret',
  '*.token',
];

/**
 * A JSON logger whose every line carries the trace_id and span_id of the active
 * OpenTelemetry span, so a log line leads to its trace and back.
 */
export function createLogger(options: LoggerOptions): Logger {
  const pinoOptions: pino.LoggerOptions = {
    level: options.level ?? 'info',
    base: { service: options.service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    messageKey: 'msg',
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    mixin: activeTraceFields,
  };
  return options.destination ? pino(pinoOptions, options.destination) : pino(pinoOptions);
}

/** trace_id/span_id of the active span, or nothing outside a (valid, real) span. */
export function activeTraceFields(): { trace_id?: string; span_id?: string; trace_flags?: string } {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const spanContext = span.spanContext();
  if (!isSpanContextValid(spanContext)) return {};
  return {
    trace_id: spanContext.traceId,
    span_id: spanContext.spanId,
    trace_flags: `0${spanContext.traceFlags.toString(16)}`.slice(-2),
  };
}
