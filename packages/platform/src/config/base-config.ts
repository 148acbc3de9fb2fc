import { z } from 'zod';

export const LogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
export type LogLevel = z.infer<typeof LogLevel>;

/** A TCP port; 0 asks the OS for a free one (tests). */
export const Port = z.coerce
  .number({ invalid_type_error: 'must be a port number' })
  .int('must be a whole number')
  .min(0, 'must be between 0 and 65535')
  .max(65535, 'must be between 0 and 65535');

/** An absolute URL whose scheme is one of `protocols` (without the colon). */
export function urlSetting(protocols: readonly string[]) {
  return z.string().superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be an absolute URL' });
      return;
    }
    const scheme = url.protocol.replace(/:$/, '');
    if (!protocols.includes(scheme)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `must use one of the schemes ${protocols.join(', ')} (got ${scheme})`,
      });
    }
  });
}

/** `host:port,host:port` into a list; every entry must carry a port. */
export const BrokerList = z
  .string()
  .transform((value) =>
    value
      .split(',')
      .map((broker) => broker.trim())
      .filter((broker) => broker !== ''),
  )
  .superRefine((brokers, ctx) => {
    if (brokers.length === 0) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must list at least one host:port' });
    }
    brokers.forEach((broker, index) => {
      if (!/^[^\s:/]+:\d{1,5}$/.test(broker) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(broker)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `entry ${index + 1} is not host:port` });
      }
    });
  });

const Milliseconds = z.coerce
  .number({ invalid_type_error: 'must be a number of milliseconds' })
  .int('must be a whole number of milliseconds')
  .min(100, 'must be at least 100 ms')
  .max(3_600_000, 'must be at most an hour');

const ServiceName = z
  .string()
  .regex(/^[a-z][a-z0-9-]*$/, 'must be lowercase letters, digits and dashes, starting with a letter');

export interface BaseConfigDefaults {
  /** Default SERVICE_NAME, e.g. `rules`. */
  service: string;
  /** Default HTTP_PORT of this service. */
  httpPort: number;
}

/**
 * The settings every service shares. A service extends it with its own:
 * `const RulesConfig = baseConfig({ service: 'rules', httpPort: 3002 }).extend({ ... })`.
 * Unset KAFKA_BROKERS / DATABASE_URL / REDIS_URL select the embedded defaults (DESIGN.md, Running).
 */
export function baseConfig(defaults: BaseConfigDefaults) {
  return z.object({
    SERVICE_NAME: ServiceName.default(defaults.service),
    HTTP_PORT: Port.default(defaults.httpPort),
    LOG_LEVEL: LogLevel.default('info'),
    KAFKA_BROKERS: BrokerList.optional(),
    SCHEMA_REGISTRY_URL: urlSetting(['http', 'https']).optional(),
    DATABASE_URL: urlSetting(['postgres', 'postgresql']).optional(),
    REDIS_URL: urlSetting(['redis', 'rediss']).optional(),
    OTEL_EXPORTER_OTLP_ENDPOINT: urlSetting(['http', 'https']).optional(),
    // The admin token mints orgs and keys; a short one is guessable.
    CMIS_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
    /** Days the inbox remembers processed event ids (redeliveries within them are deduplicated). */
    CMIS_INBOX_RETENTION_DAYS: z.coerce
      .number({ invalid_type_error: 'must be a number of days' })
      .positive('must be more than 0 days')
      .default(7),
    /**
     * Consumer-group session timeout: how soon a crashed member's partitions move to a restarted
     * or surviving member (kafkajs's default 30 s when unset). The broker bounds it
     * (group.min.session.timeout.ms, 6 s by default, to group.max.session.timeout.ms).
     */
    KAFKA_SESSION_TIMEOUT_MS: Milliseconds.optional(),
    /** How often consumers heartbeat (kafkajs's default 3 s); a third of the timeout or less. */
    KAFKA_HEARTBEAT_INTERVAL_MS: Milliseconds.optional(),
    /**
     * The most bytes a consumer's fetch brings, all its partitions together (1 MiB when unset):
     * what one handled batch commits at once, so what a consumer catching up shows as progress
     * and redoes after a crash in it.
     */
    KAFKA_FETCH_MAX_BYTES: z.coerce
      .number({ invalid_type_error: 'must be a number of bytes' })
      .int('must be a whole number of bytes')
      .min(64 * 1024, 'must be at least 65536 bytes')
      .optional(),
  });
}

export type BaseConfig = z.output<ReturnType<typeof baseConfig>>;
