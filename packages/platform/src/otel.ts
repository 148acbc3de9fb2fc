/**
 * Import first in a service's main.ts (`import '@cmis/platform/otel';`): starts OpenTelemetry
 * before express, pg and ioredis are loaded, so their calls are traced (Kafka hops get the
 * platform's own producer and consumer spans). Reads
 * OTEL_SERVICE_NAME (or SERVICE_NAME; else the service whose `services/<name>/dist/main.js` this
 * process runs) and OTEL_EXPORTER_OTLP_ENDPOINT. Without an endpoint (or with CMIS_TRACING=off)
 * the SDK is not started: spans nobody exports would only cost time on every request and message.
 */
import { serviceNameOf, startTelemetry, type Telemetry } from './telemetry/telemetry';

const endpoint = process.env.OTEL_EXPORTER_OTLP_ENDPOINT || undefined;
const enabled =
  process.env.CMIS_TRACING === 'on' || (endpoint !== undefined && process.env.CMIS_TRACING !== 'off');

export const telemetry: Telemetry = enabled
  ? startTelemetry({ serviceName: serviceNameOf(process.env, process.argv[1]), otlpEndpoint: endpoint })
  : { shutdown: async () => undefined };
