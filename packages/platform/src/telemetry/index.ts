export {
  startTelemetry,
  currentTraceHeaders,
  contextFromHeaders,
  withSpanFrom,
  SpanKind,
  CARRIED_TRACEPARENT,
  CARRIED_TRACESTATE,
  type Telemetry,
  type TelemetryOptions,
} from './telemetry';
