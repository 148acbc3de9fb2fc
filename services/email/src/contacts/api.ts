// A contact as email knows it (address, name, zone, consent), and consent changes through the
// API: unsubscribe or resubscribe from all marketing email or one topic.
import { asyncHandler, NotFoundError, validate, withOrg, type ServiceRuntime } from '@cmis/platform';
import type { Router } from 'express';
import { z } from 'zod';
import { resubscribeContact, unsubscribeContact } from '../suppression/consent';

const ContactParams = z.object({ contactId: z.string().min(1).max(200) });
export const SubscriptionInput = z
  .object({
    subscribed: z.boolean(),
    topic: z
      .string()
      .regex(/^[a-z0-9_-]{1,50}$/)
      .optional()
      .describe('Default: all marketing email'),
  })
  .strict();

export function contactRoutes(router: Router, deps: { rt: ServiceRuntime; now: () => Date }) {
  const { rt, now } = deps;

  const find = (orgId: string, contactId: string) =>
    withOrg(rt.db.app, orgId, (trx) =>
      trx('contacts').where({ org_id: orgId, contact_id: contactId }).first(),
    );

  router.get(
    '/v1/contacts/:contactId',
    rt.auth.require('email:read'),
    validate({ params: ContactParams }),
    asyncHandler(async (req, res) => {
      const { orgId } = req.principal!;
      const row = await find(orgId, req.params.contactId);
      if (!row) throw new NotFoundError(`Email knows no contact ${req.params.contactId}`);
      const suppressed = row.address
        ? await withOrg(rt.db.app, orgId, (trx) =>
            trx('suppressions').where({ org_id: orgId, address: row.address }).first('reason'),
          )
        : undefined;
      res.json({
        contactId: row.contact_id,
        address: row.address ?? undefined,
        name: row.name ?? undefined,
        timeZone: row.time_zone ?? undefined,
        locale: row.locale ?? undefined,
        unsubscribedAt: row.unsubscribed_at ?? undefined,
        unsubscribedTopics: row.unsubscribed_topics,
        suppressed: suppressed?.reason ?? undefined,
      });
    }),
  );

  router.put(
    '/v1/contacts/:contactId/subscription',
    rt.auth.require('email:manage'),
    validate({ params: ContactParams, body: SubscriptionInput }),
    asyncHandler(async (req, res) => {
      const { orgId } = req.principal!;
      const { subscribed, topic } = req.body;
      const changed = await withOrg(rt.db.app, orgId, async (trx) => {
        const row = await trx('contacts')
          .where({ org_id: orgId, contact_id: req.params.contactId })
          .first('address');
        if (!row?.address)
          throw new NotFoundError(`Email knows no address of contact ${req.params.contactId}`);
        const who = { contactId: req.params.contactId, address: row.address as string };
        const scope = topic ? ({ scope: 'topic', topic } as const) : ({ scope: 'all' } as const);
        return subscribed
          ? resubscribeContact(rt, trx, orgId, { ...who, ...scope }, now())
          : unsubscribeContact(rt, trx, orgId, { ...who, ...scope, method: 'api' }, now());
      });
      res.json({ contactId: req.params.contactId, subscribed, ...(topic ? { topic } : {}), changed });
    }),
  );
}
