/**
 * Import first in a service's main.ts (`import '@cmis/platform/otel';`): starts OpenTelemetry
 * before express, pg, ioredis and kafkajs are loaded, so their calls are traced. Reads
 * SERVICE_NAME (or OTEL_SERVICE_NAME) and OTEL_EXPORTER_OTLP_ENDPOINT. Without an endpoint (or
 * with CMIS_TRACING=off) the SDK is not started: spans nobody exports would only cost time on
 * every request and message.
 */
import { startTelemetry, type Telemetry } from './telemetry/telemetry';

const endpoint = process.env.OTEL_EXPORTER_OTLP_ENDPOINT || undefined;
const enabled =
  process.env.CMIS_TRACING === 'on' || (endpoint !== undefined && process.env.CMIS_TRACING !== 'off');

export const telemetry: Telemetry = enabled
  ? startTelemetry({
      serviceName: process.env.OTEL_SERVICE_NAME ?? process.env.SERVICE_NAME ?? 'cmis',
      otlpEndpoint: endpoint,
    })
  : { shutdown: async () => undefined };
