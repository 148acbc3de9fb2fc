// The transactional send API (an Idempotency-Key is required: a retried call is the same
// message) and the read side of messages: status, events, what it was rendered from.
import { EmailAbTest, EmailContent, EmailRecipient } from '@cmis/contracts';
import {
  asyncHandler,
  NotFoundError,
  validate,
  ValidationError,
  withOrg,
  type ServiceRuntime,
} from '@cmis/platform';
import type { Router } from 'express';
import { z } from 'zod';
import { MESSAGE_STREAM } from './record';
import type { HandleRequest } from './request';

const IdempotencyKey = z.string().min(1).max(200);

export const SendBody = z
  .object({
    to: EmailRecipient,
    content: EmailContent,
    data: z.record(z.unknown()).default({}),
    transactional: z.boolean().default(true),
    subscriptionTopic: z.string().min(1).max(100).optional(),
    abTest: EmailAbTest.optional(),
    notBefore: z.string().datetime({ offset: true }).optional(),
  })
  .superRefine((body, ctx) => {
    if (body.content.kind === 'inline' && !body.content.html && !body.content.text)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['content', 'html'],
        message: 'html or text is required',
      });
  });

const MessageParams = z.object({ messageId: z.string().regex(/^[0-9a-f]{32}$/, 'must be a message id') });
const ListQuery = z.object({
  contactId: z.string().min(1).optional(),
  status: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

function parseQuery<T extends z.ZodTypeAny>(schema: T, query: unknown): z.output<T> {
  const parsed = schema.safeParse(query);
  if (!parsed.success)
    throw new ValidationError(
      parsed.error.issues.map((i) => ({ path: ['query', ...i.path].join('.'), message: i.message })),
    );
  return parsed.data;
}

const present = (row: Record<string, unknown>) => ({
  messageId: row.message_id,
  idempotencyKey: row.idempotency_key,
  status: row.status,
  contactId: row.contact_id ?? undefined,
  address: row.address ?? undefined,
  origin: row.origin,
  transactional: row.transactional,
  templateId: row.template_id ?? undefined,
  templateVersion: row.template_version ?? undefined,
  abTestId: row.ab_test_id ?? undefined,
  variantId: row.variant_id ?? undefined,
  subject: row.subject ?? undefined,
  attempts: row.attempts,
  dueAt: row.due_at ?? undefined,
  createdAt: row.created_at,
  sentAt: row.sent_at ?? undefined,
});

export function messageRoutes(router: Router, deps: { rt: ServiceRuntime; handleRequest: HandleRequest }) {
  const { rt, handleRequest } = deps;

  router.post(
    '/v1/messages',
    rt.auth.require('email:send'),
    validate({ body: SendBody }),
    asyncHandler(async (req, res) => {
      const parsed = IdempotencyKey.safeParse(req.headers['idempotency-key']);
      if (!parsed.success)
        throw new ValidationError(
          [
            {
              path: 'headers.idempotency-key',
              message: 'an Idempotency-Key header (1–200 characters) is required',
            },
          ],
          'A transactional send needs an Idempotency-Key',
        );
      const { orgId, keyId } = req.principal!;
      const result = await withOrg(rt.db.app, orgId, (trx) =>
        handleRequest(
          trx,
          orgId,
          { ...req.body, idempotencyKey: `api:${parsed.data}`, origin: { kind: 'transactional', id: keyId } },
          {
            actor: `key:${keyId}`,
            correlationId: (req.headers['x-request-id'] as string | undefined) ?? undefined,
          },
        ),
      );
      res.status(result.created ? 202 : 200).json(result);
    }),
  );

  router.get(
    '/v1/messages',
    rt.auth.require('email:read'),
    asyncHandler(async (req, res) => {
      const { orgId } = req.principal!;
      const q = parseQuery(ListQuery, req.query);
      const rows = await withOrg(rt.db.app, orgId, (trx) => {
        const query = trx('messages').where({ org_id: orgId });
        if (q.contactId) query.andWhere({ contact_id: q.contactId });
        if (q.status) query.andWhere({ status: q.status });
        return query.orderBy('created_at', 'desc').limit(q.limit);
      });
      res.json({ messages: rows.map(present) });
    }),
  );

  router.get(
    '/v1/messages/:messageId',
    rt.auth.require('email:read'),
    validate({ params: MessageParams }),
    asyncHandler(async (req, res) => {
      const { orgId } = req.principal!;
      const { messageId } = req.params;
      const found = await withOrg(rt.db.app, orgId, async (trx) => {
        const row = await trx('messages').where({ org_id: orgId, message_id: messageId }).first();
        if (!row) return undefined;
        const events = await rt.eventStore.readStream(trx, orgId, MESSAGE_STREAM, messageId);
        return { row, events };
      });
      if (!found) throw new NotFoundError(`No message ${messageId}`);
      res.json({
        ...present(found.row),
        events: found.events.map((e) => ({ type: e.type, at: e.occurredAt, data: e.data })),
      });
    }),
  );
}
