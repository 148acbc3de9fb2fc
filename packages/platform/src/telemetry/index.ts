export {
  startTelemetry,
  currentTraceHeaders,
  contextFromHeaders,
  withSpanFrom,
  SpanKind,
  publishTraced,
  serviceNameOf,
  startProducerSpan,
  type Telemetry,
  type TelemetryOptions,
} from './telemetry';
