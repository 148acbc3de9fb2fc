/**
 * Import first in a service's main.ts (`import '@cmis/platform/otel';`): starts OpenTelemetry
 * before express, pg, ioredis and kafkajs are loaded, so their calls are traced. Reads
 * SERVICE_NAME (or OTEL_SERVICE_NAME) and OTEL_EXPORTER_OTLP_ENDPOINT.
 */
import { startTelemetry, type Telemetry } from './telemetry/telemetry';

export const telemetry: Telemetry = startTelemetry({
  serviceName: process.env.OTEL_SERVICE_NAME ?? process.env.SERVICE_NAME ?? 'cmis',
  otlpEndpoint: process.env.OTEL_EXPORTER_OTLP_ENDPOINT || undefined,
});
