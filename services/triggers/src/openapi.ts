// The service's HTTP API as OpenAPI 3.1, served at GET /openapi.json. Paths are relative to
// where the service is mounted (`/` alone, `/triggers` in the all-in-one process).
const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const errors = {
  '400': problem('Invalid input; `errors` name each field (`body.userId`, `body.batch.2.event`)'),
  '401': problem('Missing, unknown or revoked credentials'),
  '413': problem('Body larger than allowed'),
  '415': problem('Body is not application/json, or its Content-Encoding is not identity, gzip or deflate'),
  '429': problem('Over the per-source or per-org rate limit; see Retry-After'),
  '503': problem(
    'Not stored: the broker did not take the events, the publish queue is full, or the same messageId is still being stored; retry after Retry-After with the same messageIds',
  ),
};
const writeKey = [{ writeKey: [] }];
const apiKey = [{ apiKey: [] }];

const commonProperties = {
  userId: { type: 'string' },
  anonymousId: { type: 'string', description: 'userId or anonymousId is required' },
  messageId: { type: 'string', description: 'Deduplicated per org for 24 hours' },
  timestamp: { type: 'string', format: 'date-time', description: 'At most a day in the future' },
  context: { type: 'object' },
};

const segmentCall = (type: string, required: string[], extra: Record<string, object>) => ({
  post: {
    summary: `Segment ${type} call`,
    security: writeKey,
    requestBody: json({
      type: 'object',
      required,
      properties: { ...commonProperties, ...extra },
    }),
    responses: {
      '200': json({
        type: 'object',
        properties: { success: { type: 'boolean' }, duplicate: { type: 'boolean' } },
      }),
      ...errors,
    },
  },
});

const batchCall = {
  post: {
    summary: 'Segment batch (also at /v1/import): valid calls are accepted, invalid ones reported by index',
    security: writeKey,
    requestBody: json({
      type: 'object',
      required: ['batch'],
      properties: {
        batch: { type: 'array', items: { type: 'object' } },
        writeKey: { type: 'string' },
        context: { type: 'object' },
      },
    }),
    responses: { '200': json(ref('BatchResult')), ...errors },
  },
};

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'CMIS triggers',
    version: '1.0.0',
    description:
      'Segment-compatible ingest, entity metrics, signed inbound webhooks, sources and cron schedules. ' +
      'Errors are RFC 9457 problem+json.',
  },
  components: {
    securitySchemes: {
      writeKey: {
        type: 'http',
        scheme: 'basic',
        description: 'Source write key as the username, empty password',
      },
      apiKey: {
        type: 'http',
        scheme: 'bearer',
        description: 'Org API key (scopes triggers:manage, triggers:read)',
      },
    },
    schemas: {
      Problem: {
        type: 'object',
        properties: {
          type: { type: 'string' },
          title: { type: 'string' },
          status: { type: 'integer' },
          detail: { type: 'string' },
          instance: { type: 'string' },
          errors: { type: 'array', items: ref('FieldError') },
        },
      },
      FieldError: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } },
      SegmentCommon: { type: 'object', properties: commonProperties },
      BatchResult: {
        type: 'object',
        properties: {
          success: { type: 'boolean' },
          accepted: {
            type: 'integer',
            description: 'Valid calls (published, or duplicates of earlier ones)',
          },
          duplicates: { type: 'integer', description: 'Accepted calls whose messageId was already received' },
          rejected: {
            type: 'array',
            items: {
              type: 'object',
              properties: { index: { type: 'integer' }, errors: { type: 'array', items: ref('FieldError') } },
            },
          },
        },
      },
      MetricsSnapshot: {
        type: 'object',
        required: ['entityType', 'entityId', 'metrics'],
        properties: {
          entityType: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9_.-]{0,63}$' },
          entityId: { type: 'string' },
          metrics: { type: 'object', additionalProperties: { type: 'number' } },
          timestamp: { type: 'string', format: 'date-time' },
          messageId: { type: 'string' },
        },
      },
      WebhookMapping: {
        type: 'object',
        required: ['event'],
        properties: {
          event: {
            oneOf: [
              { type: 'object', properties: { path: { type: 'string' } } },
              { type: 'object', properties: { value: { type: 'string' } } },
            ],
          },
          userId: { type: 'object', properties: { path: { type: 'string' } } },
          anonymousId: { type: 'object', properties: { path: { type: 'string' } } },
          properties: { type: 'object', properties: { path: { type: 'string' } } },
          timestamp: { type: 'object', properties: { path: { type: 'string' } } },
        },
      },
      Schedule: {
        type: 'object',
        properties: {
          scheduleId: { type: 'string' },
          name: { type: 'string' },
          cron: { type: 'string' },
          timeZone: { type: 'string', description: 'IANA time zone' },
          catchUp: { enum: ['fire-once', 'skip'] },
          status: { enum: ['active', 'paused'] },
          nextFireAt: { type: ['string', 'null'], format: 'date-time' },
          lastFiredAt: { type: ['string', 'null'], format: 'date-time' },
        },
      },
    },
  },
  paths: {
    '/v1/track': segmentCall('track', ['event'], {
      event: { type: 'string' },
      properties: { type: 'object' },
    }),
    '/v1/identify': segmentCall('identify', [], { traits: { type: 'object' } }),
    '/v1/page': segmentCall('page', [], {
      name: { type: 'string' },
      category: { type: 'string' },
      properties: { type: 'object' },
    }),
    '/v1/screen': segmentCall('screen', [], {
      name: { type: 'string' },
      category: { type: 'string' },
      properties: { type: 'object' },
    }),
    '/v1/group': segmentCall('group', ['groupId'], {
      groupId: { type: 'string' },
      traits: { type: 'object' },
    }),
    '/v1/alias': segmentCall('alias', ['userId', 'previousId'], { previousId: { type: 'string' } }),
    '/v1/batch': batchCall,
    '/v1/import': batchCall,
    '/openapi.json': { get: { summary: 'This document', responses: { '200': json({ type: 'object' }) } } },
    '/v1/metrics': {
      post: {
        summary: 'Entity metric snapshots, one or { batch: [...] }',
        security: writeKey,
        requestBody: json({
          oneOf: [
            ref('MetricsSnapshot'),
            { type: 'object', properties: { batch: { type: 'array', items: ref('MetricsSnapshot') } } },
          ],
        }),
        responses: { '200': json(ref('BatchResult')), ...errors },
      },
    },
    '/v1/webhooks/{sourceId}': {
      post: {
        summary: 'Inbound webhook, verified per Standard Webhooks and mapped to a user action',
        parameters: [
          { name: 'sourceId', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'webhook-id', in: 'header', required: true, schema: { type: 'string' } },
          { name: 'webhook-timestamp', in: 'header', required: true, schema: { type: 'string' } },
          { name: 'webhook-signature', in: 'header', required: true, schema: { type: 'string' } },
        ],
        requestBody: json({ type: 'object' }),
        responses: {
          '200': json({ type: 'object', properties: { success: { type: 'boolean' } } }),
          ...errors,
          '404': problem('Unknown source'),
          '409': problem('Replayed webhook-id'),
        },
      },
    },
    '/v1/sources': {
      post: {
        summary: 'Create a source; the answer holds its write key and webhook secret (shown once)',
        security: apiKey,
        requestBody: json({
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string' }, mapping: ref('WebhookMapping') },
        }),
        responses: { '201': json({ type: 'object' }), ...errors },
      },
      get: {
        summary: 'List sources (no secrets)',
        security: apiKey,
        responses: { '200': json({ type: 'object' }) },
      },
    },
    '/v1/sources/{sourceId}': {
      get: {
        summary: 'One source',
        security: apiKey,
        responses: { '200': json({ type: 'object' }), '404': problem('Unknown source') },
      },
    },
    '/v1/sources/{sourceId}/write-keys': {
      post: {
        summary:
          'Rotate: issue a new write key; the current ones keep working for graceSeconds (default 86400)',
        security: apiKey,
        requestBody: json({ type: 'object', properties: { graceSeconds: { type: 'integer' } } }),
        responses: { '201': json({ type: 'object' }), ...errors },
      },
    },
    '/v1/sources/{sourceId}/write-keys/{keyId}': {
      delete: {
        summary: 'Revoke a write key now',
        security: apiKey,
        responses: { '204': { description: 'Revoked' } },
      },
    },
    '/v1/sources/{sourceId}/webhook-secrets': {
      post: {
        summary: 'Rotate: issue a new webhook secret; the current ones keep verifying for graceSeconds',
        security: apiKey,
        requestBody: json({ type: 'object', properties: { graceSeconds: { type: 'integer' } } }),
        responses: { '201': json({ type: 'object' }), ...errors },
      },
    },
    '/v1/sources/{sourceId}/webhook-secrets/{secretId}': {
      delete: {
        summary: 'Revoke a webhook secret now',
        security: apiKey,
        responses: { '204': { description: 'Revoked' } },
      },
    },
    '/v1/sources/{sourceId}/mapping': {
      put: {
        summary: 'Set the webhook payload mapping',
        security: apiKey,
        requestBody: json(ref('WebhookMapping')),
        responses: { '200': json({ type: 'object' }), ...errors },
      },
    },
    '/v1/schedules': {
      post: {
        summary: 'Create a cron schedule in an IANA time zone',
        security: apiKey,
        requestBody: json({
          type: 'object',
          required: ['name', 'cron'],
          properties: {
            name: { type: 'string' },
            cron: { type: 'string' },
            timeZone: { type: 'string' },
            catchUp: { enum: ['fire-once', 'skip'] },
          },
        }),
        responses: { '201': json(ref('Schedule')), ...errors },
      },
      get: { summary: 'List schedules', security: apiKey, responses: { '200': json({ type: 'object' }) } },
    },
    '/v1/schedules/preview': {
      post: {
        summary: 'Next N fire times of an expression, without creating a schedule',
        security: apiKey,
        requestBody: json({
          type: 'object',
          properties: {
            cron: { type: 'string' },
            timeZone: { type: 'string' },
            count: { type: 'integer' },
            from: { type: 'string' },
          },
        }),
        responses: {
          '200': json({
            type: 'object',
            properties: { fireTimes: { type: 'array', items: { type: 'string' } } },
          }),
          ...errors,
        },
      },
    },
    '/v1/schedules/{scheduleId}': {
      get: { summary: 'One schedule', security: apiKey, responses: { '200': json(ref('Schedule')) } },
      delete: {
        summary: 'Delete a schedule',
        security: apiKey,
        responses: { '204': { description: 'Deleted' } },
      },
    },
    '/v1/schedules/{scheduleId}/preview': {
      get: {
        summary: 'Next N fire times of a schedule',
        security: apiKey,
        parameters: [{ name: 'count', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100 } }],
        responses: { '200': json({ type: 'object' }) },
      },
    },
    '/v1/schedules/{scheduleId}/pause': {
      post: { summary: 'Pause', security: apiKey, responses: { '200': json(ref('Schedule')) } },
    },
    '/v1/schedules/{scheduleId}/resume': {
      post: {
        summary: 'Resume from now (paused ticks are not fired)',
        security: apiKey,
        responses: { '200': json(ref('Schedule')) },
      },
    },
  },
} as const;
