// The rules HTTP API as OpenAPI 3.1, served at GET /openapi.json (relative to where the service is
// mounted: `/` alone, `/rules` in the all-in-one process). Bodies and queries are the JSON Schemas
// of the zod schemas the routes validate with, so the document cannot drift from what is checked.
import { jsonSchemaOf } from '@cmis/contracts';
import { z } from 'zod';
import { RuleInput } from './definitions/rule';
import { EvaluationsQuery } from './evaluation/api';
import { Sample } from './simulate/api';

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
  '400': problem('Invalid input; `errors` name each field (`body.conditions.all.0.field`)'),
  '401': problem('Missing, unknown or revoked API key'),
  '403': problem('The key lacks the scope'),
};
const notFound = { '404': problem('No such rule in this org') };
const rule = { $ref: '#/components/schemas/Rule' };
const ruleId = [{ name: 'ruleId', in: 'path', required: true, schema: { type: 'string' } }];
const read = [{ apiKey: ['rules:read'] }];
const write = [{ apiKey: ['rules:write'] }];
const reason = json({ type: 'object', properties: { reason: { type: 'string', maxLength: 500 } } });
const limit = plain(EvaluationsQuery) as { properties: Record<string, object> };

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'CMIS rules',
    version: '1.0.0',
    description:
      'Automation rules: definitions with an audit trail, simulation, evaluations. Errors are RFC 9457 problem+json.',
  },
  components: {
    securitySchemes: {
      apiKey: { type: 'http', scheme: 'bearer', description: 'Org API key (scopes rules:read, rules:write)' },
    },
    schemas: {
      RuleInput: plain(RuleInput),
      Rule: {
        type: 'object',
        description: 'A rule as stored: its id, version, status and definition',
        properties: { ruleId: { type: 'string' }, version: { type: 'integer' } },
        additionalProperties: true,
      },
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
    '/openapi.json': { get: { summary: 'This document', responses: { '200': json({ type: 'object' }) } } },
    '/v1/rules': {
      get: {
        summary: 'List rules',
        security: read,
        responses: { '200': json({ type: 'object' }), ...errors },
      },
      post: {
        summary: 'Create a rule (a webhook action returns its signing secret once)',
        security: write,
        requestBody: json({ $ref: '#/components/schemas/RuleInput' }),
        responses: { '201': json(rule), ...errors },
      },
    },
    '/v1/rules/simulate': {
      post: {
        summary: 'Evaluate a draft rule against a sample, explaining each condition',
        security: read,
        requestBody: json({
          type: 'object',
          required: ['rule', 'sample'],
          properties: { rule: { $ref: '#/components/schemas/RuleInput' }, sample: plain(Sample) },
          additionalProperties: false,
        }),
        responses: { '200': json({ type: 'object' }), ...errors },
      },
    },
    '/v1/rules/{ruleId}': {
      get: {
        summary: 'Read a rule',
        security: read,
        parameters: ruleId,
        responses: { '200': json(rule), ...errors, ...notFound },
      },
      put: {
        summary: 'Replace the definition (optionally with expectedVersion)',
        security: write,
        parameters: ruleId,
        requestBody: json({
          allOf: [
            { $ref: '#/components/schemas/RuleInput' },
            { type: 'object', properties: { expectedVersion: { type: 'integer', minimum: 1 } } },
          ],
        }),
        responses: {
          '200': json(rule),
          ...errors,
          ...notFound,
          '409': problem('expectedVersion is not the current version'),
        },
      },
      delete: {
        summary: 'Delete a rule',
        security: write,
        parameters: ruleId,
        responses: { '204': { description: 'Deleted' }, ...errors, ...notFound },
      },
    },
    '/v1/rules/{ruleId}/enable': {
      post: {
        summary: 'Enable a rule',
        security: write,
        parameters: ruleId,
        requestBody: reason,
        responses: { '200': json(rule), ...errors, ...notFound },
      },
    },
    '/v1/rules/{ruleId}/disable': {
      post: {
        summary: 'Disable a rule, with an optional reason',
        security: write,
        parameters: ruleId,
        requestBody: reason,
        responses: { '200': json(rule), ...errors, ...notFound },
      },
    },
    '/v1/rules/{ruleId}/history': {
      get: {
        summary: 'The audit trail: every change, who, when, from which version',
        security: read,
        parameters: ruleId,
        responses: { '200': json({ type: 'object' }), ...errors, ...notFound },
      },
    },
    '/v1/rules/{ruleId}/webhook-secret': {
      get: {
        summary: "The rule's webhook signing secret",
        security: write,
        parameters: ruleId,
        responses: { '200': json({ type: 'object' }), ...errors, ...notFound },
      },
    },
    '/v1/rules/{ruleId}/evaluations': {
      get: {
        summary: 'Recent evaluations: fired, suppressed (why), not matched (which field was missing)',
        security: read,
        parameters: [
          ...ruleId,
          ...Object.entries(limit.properties).map(([name, schema]) => ({ name, in: 'query', schema })),
        ],
        responses: { '200': json({ type: 'object' }), ...errors, ...notFound },
      },
    },
  },
};
