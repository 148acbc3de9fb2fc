import { randomBytes, randomUUID } from 'node:crypto';
import { createTopicEnvelope, newEventId, tenancyTopic, type Codec } from '@cmis/contracts';
import { Router, type Request } from 'express';
import { z } from 'zod';
import type { Bus } from '../bus';
import { OrgId } from '../db';
import { asyncHandler, UnauthorizedError, validate } from '../http';
import { currentTraceHeaders } from '../telemetry';
import { apiKeyFrom, sameSecret } from './api-key';

export interface TenancyAdminOptions {
  bus: Bus;
  codec: Pick<Codec, 'encode'>;
  now?: () => Date;
  random?: (size: number) => Buffer;
  newOrgId?: () => string;
}

export const CreateOrg = z
  .object({ name: z.string().trim().min(1).max(200), orgId: OrgId.optional() })
  .strict();
export type CreateOrg = z.infer<typeof CreateOrg>;
export const IssueKey = z.object({ scopes: z.array(z.string().min(1).max(100)).min(1).max(50) }).strict();
export type IssueKey = z.infer<typeof IssueKey>;

/**
 * The admin commands: org created, key issued (hash and scopes only; the key is returned
 * once, here), key revoked. They publish straight to the tenancy topic, acks=all; every
 * service learns them from there.
 */
export function createTenancyAdmin(options: TenancyAdminOptions) {
  const now = options.now ?? (() => new Date());
  const random = options.random ?? randomBytes;
  const newOrgId = options.newOrgId ?? randomUUID;
  const publish = async (
    orgId: string,
    type: 'cmis.tenancy.org-created' | 'cmis.tenancy.api-key-issued' | 'cmis.tenancy.api-key-revoked',
    data: unknown,
    at: Date = now(),
  ) => {
    const envelope = createTopicEnvelope(tenancyTopic.name, {
      type,
      id: newEventId(),
      time: at.toISOString(),
      source: '/cmis/admin',
      subject: orgId,
      orgId,
      data: data as never,
    });
    const encoded = await options.codec.encode(tenancyTopic.name, envelope);
    await options.bus.publish(tenancyTopic.name, [
      {
        key: tenancyTopic.key({ orgId, subject: orgId }),
        value: encoded.value,
        headers: { ...encoded.headers, ...currentTraceHeaders() },
      },
    ]);
  };

  return {
    async createOrg(input: CreateOrg): Promise<{ orgId: string; name: string }> {
      const org = { orgId: (input.orgId ?? newOrgId()).toLowerCase(), name: input.name };
      await publish(org.orgId, 'cmis.tenancy.org-created', org);
      return org;
    },
    async issueKey(orgId: string, input: IssueKey) {
      const issued = apiKeyFrom(random(8), random(32));
      await publish(orgId, 'cmis.tenancy.api-key-issued', {
        keyId: issued.keyId,
        orgId,
        hash: issued.hash,
        scopes: input.scopes,
        prefix: issued.prefix,
      });
      return { keyId: issued.keyId, key: issued.key, prefix: issued.prefix, scopes: input.scopes };
    },
    /**
     * `at` in the future revokes the key from then on (a rotation's grace period): the event's
     * time is when the revocation takes effect, and the projections keep it as revoked_at.
     */
    async revokeKey(orgId: string, keyId: string, options: { at?: Date } = {}) {
      await publish(orgId, 'cmis.tenancy.api-key-revoked', { keyId }, options.at);
    },
  };
}

export type TenancyAdmin = ReturnType<typeof createTenancyAdmin>;

/**
 * Admin routes, to mount at `/admin` (`app.use('/admin', router)`): every request under it needs
 * `Authorization: Bearer <CMIS_ADMIN_TOKEN>`.
 */
export function tenancyAdminRouter(admin: TenancyAdmin, adminToken: string): Router {
  const router = Router();
  router.use((req: Request, _res, next) => {
    const given = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    next(
      given && sameSecret(given, adminToken)
        ? undefined
        : new UnauthorizedError('The admin token is missing or wrong'),
    );
  });
  router.post(
    '/orgs',
    validate({ body: CreateOrg }),
    asyncHandler(async (req, res) => {
      res.status(201).json(await admin.createOrg(req.body as CreateOrg));
    }),
  );
  router.post(
    '/orgs/:orgId/keys',
    validate({ params: z.object({ orgId: OrgId }), body: IssueKey }),
    asyncHandler(async (req, res) => {
      res.status(201).json(await admin.issueKey(req.params.orgId!, req.body as IssueKey));
    }),
  );
  router.delete(
    '/orgs/:orgId/keys/:keyId',
    validate({ params: z.object({ orgId: OrgId, keyId: z.string().regex(/^[0-9a-f]{16}$/) }) }),
    asyncHandler(async (req, res) => {
      await admin.revokeKey(req.params.orgId!, req.params.keyId!);
      res.status(204).end();
    }),
  );
  return router;
}
