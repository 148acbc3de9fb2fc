// The drip HTTP API as OpenAPI 3.1, served at GET /openapi.json (relative to where the service is
// mounted). The campaign body is the JSON Schema of the zod schema the routes check with.
import { jsonSchemaOf } from '@cmis/contracts';
import { CampaignInput } from './campaigns/campaign';

const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});
const errors = {
  '400': problem('Invalid input; `errors` name each fault (`body.steps.1.delay`)'),
  '401': problem('Missing, unknown or revoked API key'),
  '403': problem('The key lacks the scope'),
  '404': problem('No such drip or subscription in this org'),
  '422': problem('Well-formed but refused: an unknown contact, a drip that is not active or not paused'),
};
const ok = { '200': { description: 'OK', content: { 'application/json': { schema: { type: 'object' } } } } };
const param = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });

type Route = [
  method: 'get' | 'post' | 'put',
  path: string,
  summary: string,
  scope: 'read' | 'write',
  params: string[],
  campaignBody?: boolean,
];
const ROUTES: Route[] = [
  ['post', '/v1/drips', 'Create a campaign (draft)', 'write', [], true],
  ['get', '/v1/drips', 'List campaigns', 'read', []],
  ['get', '/v1/drips/{dripId}', 'A campaign: status, version, definition', 'read', ['dripId']],
  ['put', '/v1/drips/{dripId}', 'Edit (a new version; If-Match: version)', 'write', ['dripId'], true],
  ['post', '/v1/drips/{dripId}/activate', 'Start enrolling and sending', 'write', ['dripId']],
  ['post', '/v1/drips/{dripId}/pause', 'Stop every send (due steps wait)', 'write', ['dripId']],
  ['post', '/v1/drips/{dripId}/resume', 'Continue, by the campaign’s resume mode', 'write', ['dripId']],
  ['post', '/v1/drips/{dripId}/archive', 'End the campaign', 'write', ['dripId']],
  ['get', '/v1/drips/{dripId}/changes', 'The audit trail', 'read', ['dripId']],
  ['post', '/v1/drips/{dripId}/enrollments', 'Enroll one contact', 'write', ['dripId']],
  ['post', '/v1/drips/{dripId}/enrollments/bulk', 'Enroll up to 10,000 contacts', 'write', ['dripId']],
  [
    'get',
    '/v1/drips/{dripId}/subscriptions',
    'Subscribers (status, next step, send time)',
    'read',
    ['dripId'],
  ],
  ['get', '/v1/subscriptions/{subscriptionId}', 'A subscription with its events', 'read', ['subscriptionId']],
  [
    'get',
    '/v1/contacts/{contactId}/history',
    'Refused enrollments and what became of each email',
    'read',
    ['contactId'],
  ],
];

const { $schema: _ignored, ...campaignSchema } = jsonSchemaOf(CampaignInput);
// The enrollment bodies campaigns/api.ts checks.
const contactId = { type: 'string', minLength: 1, maxLength: 200 };
const BODIES: Record<string, object> = {
  '/v1/drips/{dripId}/enrollments': {
    type: 'object',
    required: ['contactId'],
    properties: { contactId, requestId: contactId },
    additionalProperties: false,
  },
  '/v1/drips/{dripId}/enrollments/bulk': {
    type: 'object',
    required: ['contactIds'],
    properties: { contactIds: { type: 'array', maxItems: 10_000, items: contactId } },
  },
};
const paths: Record<string, Record<string, object>> = {};
for (const [method, path, summary, scope, params, campaignBody] of ROUTES) {
  paths[path] ??= {};
  paths[path]![method] = {
    summary,
    security: [{ apiKey: [`drip:${scope}`] }],
    parameters: params.map(param),
    ...(campaignBody || BODIES[path]
      ? {
          requestBody: {
            content: {
              'application/json': { schema: BODIES[path] ?? { $ref: '#/components/schemas/Campaign' } },
            },
          },
        }
      : {}),
    responses: { ...ok, ...errors },
  };
}

export const openApiDocument = {
  openapi: '3.1.0',
  info: { title: 'CMIS drip', version: '1' },
  paths,
  components: {
    securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } },
    schemas: {
      Campaign: campaignSchema,
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
