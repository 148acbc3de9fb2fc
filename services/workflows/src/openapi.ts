// The workflows HTTP API as OpenAPI 3.1, served at GET /openapi.json (relative to where the service
// is mounted). The workflow body is the JSON Schema of the zod schema publishing checks with.
import { jsonSchemaOf } from '@cmis/contracts';
import { WorkflowInput } from './definitions/workflow';

const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});
const errors = {
  '400': problem('Invalid input; `errors` name each fault (`draft.steps.2.next`)'),
  '401': problem('Missing, unknown or revoked API key'),
  '403': problem('The key lacks the scope'),
  '404': problem('No such workflow or instance in this org'),
};
const ok = { '200': { description: 'OK', content: { 'application/json': { schema: { type: 'object' } } } } };
const param = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });

type Route = [
  method: 'get' | 'post' | 'put',
  path: string,
  summary: string,
  scope: 'read' | 'write',
  params: string[],
];
const ROUTES: Route[] = [
  ['post', '/v1/workflows', 'Create a workflow from a draft (any shape; checked at publish)', 'write', []],
  ['get', '/v1/workflows', 'List workflows', 'read', []],
  [
    'get',
    '/v1/workflows/{workflowId}',
    'A workflow: draft, revision, status, latest version',
    'read',
    ['workflowId'],
  ],
  [
    'put',
    '/v1/workflows/{workflowId}/draft',
    'Replace the draft (If-Match: revision)',
    'write',
    ['workflowId'],
  ],
  [
    'post',
    '/v1/workflows/{workflowId}/validate',
    'Check the draft as publishing would',
    'read',
    ['workflowId'],
  ],
  [
    'post',
    '/v1/workflows/{workflowId}/publish',
    'Publish the draft as the next immutable version',
    'write',
    ['workflowId'],
  ],
  ['post', '/v1/workflows/{workflowId}/archive', 'Archive: no new entries', 'write', ['workflowId']],
  [
    'get',
    '/v1/workflows/{workflowId}/versions/{version}',
    'A published version',
    'read',
    ['workflowId', 'version'],
  ],
  ['get', '/v1/workflows/{workflowId}/changes', 'The audit trail of the definition', 'read', ['workflowId']],
  [
    'post',
    '/v1/workflows/{workflowId}/enrollments',
    'Enroll a contact in the latest version',
    'write',
    ['workflowId'],
  ],
  [
    'get',
    '/v1/workflows/{workflowId}/instances',
    'Instances, by status (e.g. failed)',
    'read',
    ['workflowId'],
  ],
  [
    'post',
    '/v1/workflows/{workflowId}/simulate',
    'Run the draft or a version for a sample contact on a virtual clock',
    'read',
    ['workflowId'],
  ],
  [
    'post',
    '/v1/workflows/{workflowId}/backtest',
    'Replay recorded track calls of a time range, read-only',
    'read',
    ['workflowId'],
  ],
  [
    'post',
    '/v1/workflows/{workflowId}/migrations',
    'Move running instances between versions (dryRun lists the moves)',
    'write',
    ['workflowId'],
  ],
  ['get', '/v1/instances/{instanceId}', 'An instance: state and events', 'read', ['instanceId']],
  [
    'post',
    '/v1/instances/{instanceId}/retry',
    'Retry the step a failed or retrying instance is on',
    'write',
    ['instanceId'],
  ],
  ['post', '/v1/instances/{instanceId}/skip', 'Skip that step', 'write', ['instanceId']],
  ['post', '/v1/instances/{instanceId}/cancel', 'Cancel the instance', 'write', ['instanceId']],
  [
    'get',
    '/v1/contacts/{contactId}/history',
    'Every decision about a contact, with its inputs',
    'read',
    ['contactId'],
  ],
];

const { $schema: _ignored, ...workflowSchema } = jsonSchemaOf(WorkflowInput);

// The bodies the routes of definitions/api.ts validate, other than the workflow itself.
const id = { type: 'string', minLength: 1, maxLength: 200 };
const version = { type: 'integer', minimum: 1 };
const object = (properties: Record<string, object>, required: string[] = []) => ({
  type: 'object',
  properties,
  required,
  additionalProperties: false,
});
const BODIES: Record<string, object> = {
  '/v1/workflows/{workflowId}/enrollments': object({ contactId: id, requestId: id }, ['contactId']),
  '/v1/workflows/{workflowId}/simulate': object(
    {
      version,
      contactId: id,
      contact: { type: 'object' },
      events: {
        type: 'array',
        minItems: 1,
        maxItems: 1000,
        items: {
          type: 'object',
          required: ['name', 'at'],
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 200 },
            at: { type: 'string', format: 'date-time' },
            properties: { type: 'object' },
          },
        },
      },
    },
    ['events'],
  ),
  '/v1/workflows/{workflowId}/backtest': object(
    { version, from: { type: 'string', format: 'date-time' }, to: { type: 'string', format: 'date-time' } },
    ['from', 'to'],
  ),
  '/v1/workflows/{workflowId}/migrations': object(
    {
      fromVersion: version,
      toVersion: version,
      mapping: { type: 'object', additionalProperties: { type: 'string' } },
      dryRun: { type: 'boolean' },
    },
    ['fromVersion', 'toVersion'],
  ),
};
const json = (schema: object) => ({ requestBody: { content: { 'application/json': { schema } } } });

const paths: Record<string, Record<string, object>> = {};
for (const [method, path, summary, scope, params] of ROUTES) {
  paths[path] ??= {};
  paths[path]![method] = {
    summary,
    security: [{ apiKey: [`workflows:${scope}`] }],
    parameters: params.map(param),
    ...((method !== 'get' && path.endsWith('workflows')) || path.endsWith('/draft')
      ? json({ $ref: '#/components/schemas/Workflow' })
      : BODIES[path]
        ? json(BODIES[path])
        : {}),
    responses: { ...ok, ...errors },
  };
}

export const openApiDocument = {
  openapi: '3.1.0',
  info: { title: 'CMIS workflows', version: '1' },
  paths,
  components: {
    securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } },
    schemas: {
      Workflow: workflowSchema,
      Problem: {
        type: 'object',
        properties: {
          type: { type: 'string' },
          title: { type: 'string' },
          status: { type: 'integer' },
          detail: { type: 'string' },
        },
      },
    },
  },
};
