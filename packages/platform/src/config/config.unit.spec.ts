import { z } from 'zod';
import { baseConfig, ConfigError, loadConfig } from './index';

const RulesConfig = baseConfig({ service: 'rules', httpPort: 3002 }).extend({
  RULES_MAX_BATCH: z.coerce.number().int().positive().default(100),
  RULES_SIGNING_SECRET: z.string().min(1),
});

function configErrorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies the service defaults when only required settings are given', () => {
    const config = loadConfig(RulesConfig, { RULES_SIGNING_SECRET: 's' });

    expect(config).toEqual({
      SERVICE_NAME: 'rules',
      HTTP_PORT: 3002,
      LOG_LEVEL: 'info',
      CMIS_INBOX_RETENTION_DAYS: 7,
      RULES_MAX_BATCH: 100,
      RULES_SIGNING_SECRET: 's',
    });
  });

  it('parses every shared setting', () => {
    const config = loadConfig(RulesConfig, {
      SERVICE_NAME: 'rules-canary',
      HTTP_PORT: '8080',
      LOG_LEVEL: 'debug',
      KAFKA_BROKERS: 'kafka-1:9092, kafka-2:9092,,[::1]:9093',
      SCHEMA_REGISTRY_URL: 'http://registry:8080/apis/ccompat/v7',
      DATABASE_URL: 'postgres://cmis:pw@db:5432/cmis',
      REDIS_URL: 'rediss://cache:6380/0',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      CMIS_ADMIN_TOKEN: 'a'.repeat(32),
      CMIS_INBOX_RETENTION_DAYS: '14',
      KAFKA_SESSION_TIMEOUT_MS: '10000',
      KAFKA_HEARTBEAT_INTERVAL_MS: '1000',
      KAFKA_FETCH_MAX_BYTES: '524288',
      RULES_MAX_BATCH: '7',
      RULES_SIGNING_SECRET: 's',
      UNRELATED: 'ignored',
    });

    expect(config).toEqual({
      SERVICE_NAME: 'rules-canary',
      HTTP_PORT: 8080,
      LOG_LEVEL: 'debug',
      KAFKA_BROKERS: ['kafka-1:9092', 'kafka-2:9092', '[::1]:9093'],
      SCHEMA_REGISTRY_URL: 'http://registry:8080/apis/ccompat/v7',
      DATABASE_URL: 'postgres://cmis:pw@db:5432/cmis',
      REDIS_URL: 'rediss://cache:6380/0',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      CMIS_ADMIN_TOKEN: 'a'.repeat(32),
      CMIS_INBOX_RETENTION_DAYS: 14,
      KAFKA_SESSION_TIMEOUT_MS: 10_000,
      KAFKA_HEARTBEAT_INTERVAL_MS: 1_000,
      KAFKA_FETCH_MAX_BYTES: 524_288,
      RULES_MAX_BATCH: 7,
      RULES_SIGNING_SECRET: 's',
    });
  });

  it('treats empty values as unset so defaults and optionals apply', () => {
    const config = loadConfig(RulesConfig, {
      RULES_SIGNING_SECRET: 's',
      HTTP_PORT: '',
      REDIS_URL: '  ',
      KAFKA_BROKERS: '',
    });

    expect(config.HTTP_PORT).toBe(3002);
    expect(config.REDIS_URL).toBeUndefined();
    expect(config.KAFKA_BROKERS).toBeUndefined();
  });

  it('names every variable at fault and why, in one error', () => {
    const error = configErrorOf(() =>
      loadConfig(RulesConfig, {
        HTTP_PORT: 'eighty',
        LOG_LEVEL: 'verbose',
        KAFKA_BROKERS: 'kafka-0:9092,kafka-1',
        DATABASE_URL: 'mysql://db/cmis',
        REDIS_URL: 'not a url',
        CMIS_ADMIN_TOKEN: 'short',
        RULES_MAX_BATCH: '-1',
      }),
    );

    expect(error.issues).toEqual(
      expect.arrayContaining([
        { variable: 'HTTP_PORT', message: 'must be a port number' },
        { variable: 'LOG_LEVEL', message: 'must be one of fatal, error, warn, info, debug, trace, silent' },
        { variable: 'KAFKA_BROKERS', message: 'entry 2 is not host:port' },
        { variable: 'DATABASE_URL', message: 'must use one of the schemes postgres, postgresql (got mysql)' },
        { variable: 'REDIS_URL', message: 'must be an absolute URL' },
        { variable: 'CMIS_ADMIN_TOKEN', message: 'must be at least 16 characters' },
        { variable: 'RULES_SIGNING_SECRET', message: 'is required but not set' },
      ]),
    );
    expect(error.issues.map((issue) => issue.variable)).toContain('RULES_MAX_BATCH');
    expect(error.issues).toHaveLength(8);
    for (const variable of ['HTTP_PORT', 'LOG_LEVEL', 'KAFKA_BROKERS', 'RULES_SIGNING_SECRET']) {
      expect(error.message).toContain(`${variable}: `);
    }
  });

  it('refuses consumer settings out of range: session milliseconds, fetch bytes', () => {
    const error = configErrorOf(() =>
      loadConfig(RulesConfig, {
        RULES_SIGNING_SECRET: 's',
        KAFKA_SESSION_TIMEOUT_MS: '10s',
        KAFKA_HEARTBEAT_INTERVAL_MS: '50',
        KAFKA_FETCH_MAX_BYTES: '1000',
      }),
    );

    expect(error.issues).toEqual([
      { variable: 'KAFKA_SESSION_TIMEOUT_MS', message: 'must be a number of milliseconds' },
      { variable: 'KAFKA_HEARTBEAT_INTERVAL_MS', message: 'must be at least 100 ms' },
      { variable: 'KAFKA_FETCH_MAX_BYTES', message: 'must be at least 65536 bytes' },
    ]);
  });

  it('never repeats a value in the error message, since values may be secrets', () => {
    const error = configErrorOf(() =>
      loadConfig(RulesConfig, { RULES_SIGNING_SECRET: 's', CMIS_ADMIN_TOKEN: 'hunter2', LOG_LEVEL: 'loud' }),
    );

    expect(error.message).not.toContain('hunter2');
    expect(error.message).not.toContain('loud');
  });

  it('rejects a port out of range', () => {
    const error = configErrorOf(() =>
      loadConfig(RulesConfig, { RULES_SIGNING_SECRET: 's', HTTP_PORT: '70000' }),
    );

    expect(error.issues).toEqual([{ variable: 'HTTP_PORT', message: 'must be between 0 and 65535' }]);
  });

  it('reads process.env by default', () => {
    const Schema = z.object({ CMIS_CONFIG_SPEC_PROBE: z.string() });
    process.env.CMIS_CONFIG_SPEC_PROBE = 'from-process';
    try {
      expect(loadConfig(Schema).CMIS_CONFIG_SPEC_PROBE).toBe('from-process');
    } finally {
      delete process.env.CMIS_CONFIG_SPEC_PROBE;
    }
  });
});
