import { z } from 'zod';
import { defineTopic, RETAIN_FOREVER } from '../topic';
import { NonEmpty, Uuid } from './common';

export const OrgCreated = z
  .object({
    orgId: Uuid,
    name: NonEmpty,
  })
  .describe('An organization (tenant) was created');
export type OrgCreated = z.infer<typeof OrgCreated>;

export const ApiKeyIssued = z
  .object({
    keyId: NonEmpty,
    orgId: Uuid,
    hash: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .describe('sha256 of the secret, lowercase hex; the secret itself never leaves the issuer'),
    scopes: z.array(NonEmpty),
    prefix: NonEmpty.describe('Visible start of the key, to recognise it in lists'),
  })
  .describe('An API key was issued to an org');
export type ApiKeyIssued = z.infer<typeof ApiKeyIssued>;

export const ApiKeyRevoked = z
  .object({
    keyId: NonEmpty,
  })
  .describe('An API key was revoked; requests with it are refused from now on');
export type ApiKeyRevoked = z.infer<typeof ApiKeyRevoked>;

export const tenancyTopic = defineTopic({
  name: 'cmis.platform.tenancy.v1',
  service: 'platform',
  description: 'Orgs and their API keys; every service projects it to authorize requests.',
  keyDescription: "subject is the org id, so all of an org's tenancy events stay in order",
  // Every service, including one deployed next year, rebuilds its tenancy projection from here.
  retentionMs: RETAIN_FOREVER,
  schemaVersion: 1,
  events: {
    'cmis.tenancy.org-created': OrgCreated,
    'cmis.tenancy.api-key-issued': ApiKeyIssued,
    'cmis.tenancy.api-key-revoked': ApiKeyRevoked,
  },
});
