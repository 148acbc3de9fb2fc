import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export type HttpLabel = 'method' | 'route' | 'status';

export interface Metrics {
  registry: Registry;
  httpRequestsTotal: Counter<HttpLabel>;
  httpRequestDurationSeconds: Histogram<HttpLabel>;
  /** Set by the Kafka runtime: messages behind the high watermark per partition. */
  consumerLag: Gauge<'topic' | 'partition' | 'group'>;
  /** Set by the outbox relay: rows written but not yet published. */
  outboxDepth: Gauge;
  /** Set by the timer scheduler: timers due but not yet fired. */
  timerBacklog: Gauge;
  /** Set by the inbox pruner: records of processed events kept for deduplication (approximate). */
  inboxProcessedRows: Gauge;
  /** Counted by the embedded bus: handlers still running past their partition's stop deadline. */
  busStuckHandlers: Counter<'group' | 'topic'>;
  /** Counted by the runtime: each retry of a consumer's failed batch, per topic in it. */
  inboxRetries: Counter<'group' | 'topic'>;
  /** Counted by the runtime: records published to a dead-letter topic, by their original topic. */
  deadLetters: Counter<'group' | 'topic'>;
}

export interface MetricsOptions {
  service: string;
  /** Process and Node.js runtime metrics; on unless a test wants a quiet registry. */
  defaultMetrics?: boolean;
}

/** A registry per service (not prom-client's global one), labelled with the service name. */
export function createMetrics(options: MetricsOptions): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service: options.service });
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });

  const labelNames: HttpLabel[] = ['method', 'route', 'status'];
  return {
    registry,
    httpRequestsTotal: new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests served, by method, route pattern and status',
      labelNames,
      registers: [registry],
    }),
    httpRequestDurationSeconds: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time from request to response finished, by method, route pattern and status',
      labelNames,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    consumerLag: new Gauge({
      name: 'consumer_lag',
      help: 'Messages between the committed offset and the high watermark',
      labelNames: ['topic', 'partition', 'group'],
      registers: [registry],
    }),
    outboxDepth: new Gauge({
      name: 'outbox_depth',
      help: 'Outbox rows not yet published',
      registers: [registry],
    }),
    timerBacklog: new Gauge({
      name: 'timer_backlog',
      help: 'Timers due but not yet fired',
      registers: [registry],
    }),
    inboxProcessedRows: new Gauge({
      name: 'inbox_processed_rows',
      help: 'Processed-event records the inbox keeps for deduplication (approximate, after each prune)',
      registers: [registry],
    }),
    busStuckHandlers: new Counter({
      name: 'bus_stuck_handlers_total',
      help: 'Handlers the embedded bus left behind at a partition stop (partition released uncommitted)',
      labelNames: ['group', 'topic'],
      registers: [registry],
    }),
    inboxRetries: new Counter({
      name: 'inbox_retries_total',
      help: 'Retries of a consumer batch that failed (transient errors), by consumer group and topic',
      labelNames: ['group', 'topic'],
      registers: [registry],
    }),
    // No reason label: reasons are free text (decode and Postgres errors); the record's headers keep it.
    deadLetters: new Counter({
      name: 'dead_letters_total',
      help: 'Records published to a dead-letter topic, by consumer group and original topic',
      labelNames: ['group', 'topic'],
      registers: [registry],
    }),
  };
}
