// The email HTTP API as OpenAPI 3.1, served at GET /openapi.json (relative to where the service is
// mounted: `/` alone, `/email` in the all-in-one process). Bodies are the JSON Schemas of the zod
// schemas the routes validate with.
import { jsonSchemaOf } from '@cmis/contracts';
import type { z } from 'zod';
import { AudienceInput, BroadcastInput } from './broadcasts/broadcast';
import { SubscriptionInput } from './contacts/api';
import { SendBody } from './messages/api';
import { EmailSettings } from './settings/settings';
import { PreviewInput, TemplateInput } from './templates/api';

const plain = (schema: z.ZodTypeAny) => {
  const { $schema: _ignored, ...body } = jsonSchemaOf(schema);
  return body;
};
const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});
const errors = {
  '400': problem(
    'Invalid input; `errors` name each field (`body.content.html`, with line and column for templates)',
  ),
  '401': problem('Missing, unknown or revoked API key'),
  '403': problem('The key lacks the scope'),
};
const notFound = { '404': problem('Not found in this org') };
const ok = (description: string) => ({
  description,
  ...json({ type: 'object', additionalProperties: true }),
});
const path = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });
const scope = (s: string) => [{ apiKey: [s] }];
const token = [path('token')];
const orgPath = [path('orgId')];
const page = (description: string) => ({
  description,
  content: { 'text/html': { schema: { type: 'string' } } },
});
const webhook = (provider: string, how: string) => ({
  post: {
    summary: `${provider} delivery events (bounces, complaints, deliveries)`,
    description: how,
    parameters: orgPath,
    responses: {
      '200': ok('How many reports were received and applied'),
      '400': problem('Not the provider’s format'),
      '401': problem('Missing or invalid signature or credentials; nothing is recorded'),
      '403': problem(
        'Verified, but not allowed (an SNS topic not on the org’s allowlist, a certificate host refused)',
      ),
    },
  },
});

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'CMIS email',
    version: '1.0.0',
    description:
      'Templates, transactional sends, broadcasts, settings and suppressions; the public tracking, unsubscribe and preference pages; provider webhooks. Errors are RFC 9457 problem+json.',
  },
  components: {
    securitySchemes: {
      apiKey: {
        type: 'http',
        scheme: 'bearer',
        description: 'Org API key (scopes email:send, email:read, email:manage)',
      },
    },
    schemas: {
      SendBody: plain(SendBody),
      TemplateInput: plain(TemplateInput),
      PreviewInput: plain(PreviewInput),
      EmailSettings: plain(EmailSettings),
      AudienceInput: plain(AudienceInput),
      BroadcastInput: plain(BroadcastInput),
      SubscriptionInput: plain(SubscriptionInput),
      Problem: {
        type: 'object',
        properties: {
          type: { type: 'string' },
          title: { type: 'string' },
          status: { type: 'integer' },
          detail: { type: 'string' },
          errors: {
            type: 'array',
            items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } },
          },
        },
      },
    },
  },
  paths: {
    '/openapi.json': { get: { summary: 'This document', responses: { '200': ok('OpenAPI 3.1') } } },
    '/v1/messages': {
      post: {
        summary: 'Send one transactional email',
        description:
          'Requires an Idempotency-Key header: a repeated call with the same key is the same message (200 with its id and status).',
        security: scope('email:send'),
        parameters: [{ name: 'idempotency-key', in: 'header', required: true, schema: { type: 'string' } }],
        requestBody: { required: true, ...json({ $ref: '#/components/schemas/SendBody' }) },
        responses: {
          '202': ok('Accepted: the message id and its status'),
          '200': ok('The key named a message already'),
          ...errors,
        },
      },
      get: {
        summary: 'Recent messages (by contact, by status)',
        security: scope('email:read'),
        responses: { '200': ok('Messages'), ...errors },
      },
    },
    '/v1/messages/{messageId}': {
      get: {
        summary: 'A message, with its events',
        security: scope('email:read'),
        parameters: [path('messageId')],
        responses: { '200': ok('The message'), ...errors, ...notFound },
      },
    },
    '/v1/contacts/{contactId}': {
      get: {
        summary: 'A contact as email knows it: address, zone, consent, suppression',
        security: scope('email:read'),
        parameters: [path('contactId')],
        responses: { '200': ok('The contact'), ...errors, ...notFound },
      },
    },
    '/v1/contacts/{contactId}/subscription': {
      put: {
        summary: 'Unsubscribe or resubscribe a contact (all marketing email or one topic)',
        security: scope('email:manage'),
        parameters: [path('contactId')],
        requestBody: { required: true, ...json({ $ref: '#/components/schemas/SubscriptionInput' }) },
        responses: { '200': ok('Whether it changed'), ...errors, ...notFound },
      },
    },
    '/v1/templates': {
      get: {
        summary: 'Templates and partials',
        security: scope('email:read'),
        responses: { '200': ok('Templates'), ...errors },
      },
    },
    '/v1/templates/{templateId}': {
      put: {
        summary: 'Save a new version of a template or partial',
        security: scope('email:manage'),
        parameters: [path('templateId')],
        requestBody: { required: true, ...json({ $ref: '#/components/schemas/TemplateInput' }) },
        responses: {
          '201': ok('First version'),
          '200': ok('New version (or unchanged)'),
          ...errors,
          '409': problem('expectedVersion is not the current version'),
        },
      },
      get: {
        summary: 'A template: current content and its history',
        security: scope('email:read'),
        parameters: [path('templateId')],
        responses: { '200': ok('The template'), ...errors, ...notFound },
      },
      delete: {
        summary: 'Delete a template',
        security: scope('email:manage'),
        parameters: [path('templateId')],
        responses: { '204': { description: 'Deleted' }, ...errors, ...notFound },
      },
    },
    '/v1/templates/{templateId}/versions/{version}': {
      get: {
        summary: 'One version of a template',
        security: scope('email:read'),
        parameters: [path('templateId'), path('version')],
        responses: { '200': ok('The version'), ...errors, ...notFound },
      },
    },
    '/v1/templates/{templateId}/preview': {
      post: {
        summary: 'Render a version for a sample or a real contact',
        security: scope('email:read'),
        parameters: [path('templateId')],
        requestBody: { required: true, ...json({ $ref: '#/components/schemas/PreviewInput' }) },
        responses: { '200': ok('subject, html and text'), ...errors, ...notFound },
      },
    },
    '/v1/settings': {
      get: {
        summary: 'The org’s email settings (secrets shown as set)',
        security: scope('email:manage'),
        responses: { '200': ok('Settings'), ...errors },
      },
      put: {
        summary: 'Replace the org’s email settings',
        security: scope('email:manage'),
        requestBody: { required: true, ...json({ $ref: '#/components/schemas/EmailSettings' }) },
        responses: { '200': ok('Settings'), ...errors },
      },
    },
    '/v1/suppressions': {
      get: {
        summary: 'Suppressed addresses',
        security: scope('email:read'),
        responses: { '200': ok('Suppressions'), ...errors },
      },
    },
    '/v1/suppressions/{address}': {
      put: {
        summary: 'Suppress an address',
        security: scope('email:manage'),
        parameters: [path('address')],
        responses: { '201': ok('Suppressed'), '200': ok('Was suppressed already'), ...errors },
      },
      delete: {
        summary: 'Lift a suppression',
        security: scope('email:manage'),
        parameters: [path('address')],
        responses: { '204': { description: 'Lifted' }, ...errors, ...notFound },
      },
    },
    '/v1/audiences': {
      post: {
        summary: 'Upload a static audience, or make one that follows a segment (segmentId)',
        security: scope('email:manage'),
        requestBody: { required: true, ...json({ $ref: '#/components/schemas/AudienceInput' }) },
        responses: { '201': ok('The audience id and size'), ...errors },
      },
    },
    '/v1/audiences/{id}': {
      get: {
        summary: 'An audience and its size',
        security: scope('email:read'),
        parameters: [path('id')],
        responses: { '200': ok('The audience'), ...errors, ...notFound },
      },
    },
    '/v1/broadcasts': {
      post: {
        summary: 'Create a broadcast (draft)',
        security: scope('email:manage'),
        requestBody: { required: true, ...json({ $ref: '#/components/schemas/BroadcastInput' }) },
        responses: { '201': ok('The broadcast id'), ...errors, ...notFound },
      },
    },
    '/v1/broadcasts/{id}': {
      get: {
        summary: 'A broadcast, its phase and message counts',
        security: scope('email:read'),
        parameters: [path('id')],
        responses: { '200': ok('The broadcast'), ...errors, ...notFound },
      },
    },
    ...Object.fromEntries(
      ['start', 'pause', 'resume'].map((action) => [
        `/v1/broadcasts/{id}/${action}`,
        {
          post: {
            summary: `${action[0]!.toUpperCase()}${action.slice(1)} a broadcast`,
            security: scope('email:manage'),
            parameters: [path('id')],
            responses: {
              '200': ok('The new status'),
              ...errors,
              ...notFound,
              '409': problem('Not possible from its status'),
            },
          },
        },
      ]),
    ),
    '/t/o/{token}': {
      get: {
        summary: 'Open pixel (public)',
        parameters: token,
        responses: {
          '200': { description: 'A 1×1 GIF' },
          '404': problem('The token does not verify; nothing recorded'),
        },
      },
    },
    '/t/c/{token}': {
      get: {
        summary: 'Tracked link (public): redirects to the link of the rendered message',
        parameters: token,
        responses: {
          '302': { description: 'To the original link' },
          '404': problem('The token does not verify; nothing recorded'),
        },
      },
    },
    '/u/{token}': {
      get: {
        summary: 'Unsubscribe page (public)',
        parameters: token,
        responses: { '200': page('Confirmation page'), ...notFound },
      },
      post: {
        summary: 'Unsubscribe: RFC 8058 one-click (List-Unsubscribe=One-Click) or the page’s form',
        parameters: token,
        responses: { '200': page('Unsubscribed'), ...notFound },
      },
    },
    '/p/{token}': {
      get: {
        summary: 'Preference center (public)',
        parameters: token,
        responses: { '200': page('Topics'), ...notFound },
      },
      post: {
        summary: 'Save preferences',
        parameters: token,
        responses: { '200': page('Saved'), ...notFound },
      },
    },
    '/webhooks/{orgId}/ses': webhook(
      'Amazon SES (through SNS)',
      'SNS signature v1 or v2; the certificate only from sns.<region>.amazonaws.com; TopicArn on the org’s allowlist; SubscriptionConfirmation is confirmed.',
    ),
    '/webhooks/{orgId}/sendgrid': webhook(
      'SendGrid Event Webhook',
      'ECDSA P-256 signature over timestamp + body with the org’s public key; 5 minutes tolerance.',
    ),
    '/webhooks/{orgId}/postmark': webhook(
      'Postmark',
      'HTTP basic auth with the org’s credentials (over TLS).',
    ),
    '/webhooks/{orgId}/mailgun': webhook(
      'Mailgun',
      'HMAC-SHA256 of timestamp + token with the org’s signing key; a token is accepted once.',
    ),
    '/dev-inbox': {
      get: {
        summary: 'Dev inbox: what the local SMTP receiver took in (embedded default only)',
        responses: { '200': page('List') },
      },
    },
    '/dev-inbox/{id}': {
      get: {
        summary: 'Dev inbox: one message, rendered',
        parameters: [path('id')],
        responses: { '200': page('Message'), ...notFound },
      },
    },
    '/dev-inbox/{id}/raw': {
      get: {
        summary: 'Dev inbox: the raw MIME',
        parameters: [path('id')],
        responses: { '200': { description: 'message/rfc822' }, ...notFound },
      },
    },
  },
};
