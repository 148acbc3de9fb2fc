import { asyncHandler, validate, NotFoundError, type ServiceRuntime } from '@cmis/platform';
import type { Router } from 'express';
import { z } from 'zod';
import { randomId } from '../shared/ids';
import { DEFAULT_WEBHOOK_MAPPING, WebhookMapping } from '../webhooks/mapping';
import { newWebhookSecret, newWriteKey } from './credentials';
import { executeSourceCommand, readSources, requireSource } from './store';

export const MANAGE_SCOPE = 'triggers:manage';
export const READ_SCOPE = 'triggers:read';

const CreateSourceBody = z
  .object({ name: z.string().min(1).max(200), mapping: WebhookMapping.optional() })
  .strict();
const RotateBody = z
  .object({
    /** How long the credentials being replaced keep working; default a day. */
    graceSeconds: z
      .number()
      .int()
      .min(0)
      .max(30 * 24 * 3600)
      .default(24 * 3600),
  })
  .strict()
  .default({});
const SourceParams = z.object({ sourceId: z.string().min(1).max(100) });

export function sourceRoutes(rt: ServiceRuntime, router: Router): void {
  const manage = rt.auth.require(MANAGE_SCOPE);
  const read = rt.auth.require(READ_SCOPE);
  const metadata = (req: { principal?: { keyId: string } }) =>
    rt.eventMetadata({ actor: req.principal?.keyId });

  router.post(
    '/v1/sources',
    manage,
    validate({ body: CreateSourceBody }),
    asyncHandler(async (req, res) => {
      const { orgId } = req.principal!;
      const sourceId = randomId('src');
      const { writeKey, issue } = newWriteKey();
      const webhookSecret = newWebhookSecret();
      const mapping = req.body.mapping ?? DEFAULT_WEBHOOK_MAPPING;
      await executeSourceCommand(rt, orgId, sourceId, {
        type: 'CreateSource',
        data: {
          sourceId,
          name: req.body.name,
          writeKey: issue,
          webhookSecret,
          mapping,
          now: new Date().toISOString(),
        },
        metadata: metadata(req),
      });
      res.status(201).json({
        sourceId,
        name: req.body.name,
        writeKey,
        writeKeyId: issue.keyId,
        webhookSecret: webhookSecret.secret,
        webhookSecretId: webhookSecret.secretId,
        mapping,
      });
    }),
  );

  router.get(
    '/v1/sources',
    read,
    asyncHandler(async (req, res) => {
      res.json({ sources: await readSources(rt, req.principal!.orgId) });
    }),
  );

  router.get(
    '/v1/sources/:sourceId',
    read,
    validate({ params: SourceParams }),
    asyncHandler(async (req, res) => {
      const [source] = await readSources(rt, req.principal!.orgId, req.params.sourceId);
      if (!source) throw new NotFoundError(`No source ${req.params.sourceId} in this org`);
      res.json(source);
    }),
  );

  router.post(
    '/v1/sources/:sourceId/write-keys',
    manage,
    validate({ params: SourceParams, body: RotateBody }),
    asyncHandler(async (req, res) => {
      const { orgId } = req.principal!;
      await requireSource(rt, orgId, req.params.sourceId);
      const { writeKey, issue } = newWriteKey();
      await executeSourceCommand(rt, orgId, req.params.sourceId, {
        type: 'RotateWriteKey',
        data: { writeKey: issue, graceSeconds: req.body.graceSeconds, now: new Date().toISOString() },
        metadata: metadata(req),
      });
      res
        .status(201)
        .json({ writeKey, writeKeyId: issue.keyId, previousKeysValidForSeconds: req.body.graceSeconds });
    }),
  );

  router.delete(
    '/v1/sources/:sourceId/write-keys/:keyId',
    manage,
    validate({ params: SourceParams.extend({ keyId: z.string().min(1).max(100) }) }),
    asyncHandler(async (req, res) => {
      const { orgId } = req.principal!;
      await requireSource(rt, orgId, req.params.sourceId);
      await executeSourceCommand(rt, orgId, req.params.sourceId, {
        type: 'RevokeWriteKey',
        data: { keyId: req.params.keyId, now: new Date().toISOString() },
        metadata: metadata(req),
      });
      res.status(204).end();
    }),
  );

  router.post(
    '/v1/sources/:sourceId/webhook-secrets',
    manage,
    validate({ params: SourceParams, body: RotateBody }),
    asyncHandler(async (req, res) => {
      const { orgId } = req.principal!;
      await requireSource(rt, orgId, req.params.sourceId);
      const secret = newWebhookSecret();
      await executeSourceCommand(rt, orgId, req.params.sourceId, {
        type: 'RotateWebhookSecret',
        data: { webhookSecret: secret, graceSeconds: req.body.graceSeconds, now: new Date().toISOString() },
        metadata: metadata(req),
      });
      res.status(201).json({
        webhookSecret: secret.secret,
        webhookSecretId: secret.secretId,
        previousSecretsValidForSeconds: req.body.graceSeconds,
      });
    }),
  );

  router.delete(
    '/v1/sources/:sourceId/webhook-secrets/:secretId',
    manage,
    validate({ params: SourceParams.extend({ secretId: z.string().min(1).max(100) }) }),
    asyncHandler(async (req, res) => {
      const { orgId } = req.principal!;
      await requireSource(rt, orgId, req.params.sourceId);
      await executeSourceCommand(rt, orgId, req.params.sourceId, {
        type: 'RevokeWebhookSecret',
        data: { secretId: req.params.secretId, now: new Date().toISOString() },
        metadata: metadata(req),
      });
      res.status(204).end();
    }),
  );

  router.put(
    '/v1/sources/:sourceId/mapping',
    manage,
    validate({ params: SourceParams, body: WebhookMapping }),
    asyncHandler(async (req, res) => {
      const { orgId } = req.principal!;
      await requireSource(rt, orgId, req.params.sourceId);
      await executeSourceCommand(rt, orgId, req.params.sourceId, {
        type: 'SetMapping',
        data: { mapping: req.body, now: new Date().toISOString() },
        metadata: metadata(req),
      });
      res.json({ mapping: req.body });
    }),
  );
}
