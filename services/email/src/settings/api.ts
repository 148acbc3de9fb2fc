// An org's email settings (secrets are write-only) and its suppression list.
import {
  asyncHandler,
  NotFoundError,
  validate,
  withOrg,
  type InvalidatingCache,
  type ServiceRuntime,
} from '@cmis/platform';
import type { Router } from 'express';
import { z } from 'zod';
import { suppressAddress, unsuppressAddress } from '../suppression/consent';
import { EmailSettings, redactSettings } from './settings';
import { loadSettings, saveSettings } from './store';

const AddressParams = z.object({ address: z.string().trim().toLowerCase().email() });

export function settingsRoutes(
  router: Router,
  deps: { rt: ServiceRuntime; cache: InvalidatingCache<EmailSettings>; now: () => Date },
) {
  const { rt, cache, now } = deps;

  router.get(
    '/v1/settings',
    rt.auth.require('email:manage'),
    asyncHandler(async (req, res) => {
      const { orgId } = req.principal!;
      res.json(redactSettings(await withOrg(rt.db.app, orgId, (trx) => loadSettings(trx, orgId))));
    }),
  );

  router.put(
    '/v1/settings',
    rt.auth.require('email:manage'),
    validate({ body: EmailSettings }),
    asyncHandler(async (req, res) => {
      const { orgId } = req.principal!;
      await withOrg(rt.db.app, orgId, (trx) => saveSettings(trx, orgId, req.body, now()));
      await cache.invalidate(orgId);
      res.json(redactSettings(req.body));
    }),
  );

  router.get(
    '/v1/suppressions',
    rt.auth.require('email:read'),
    asyncHandler(async (req, res) => {
      const { orgId } = req.principal!;
      const rows = await withOrg(rt.db.app, orgId, (trx) =>
        trx('suppressions').where({ org_id: orgId }).orderBy('at', 'desc').limit(1000),
      );
      res.json({
        suppressions: rows.map((r) => ({
          address: r.address,
          reason: r.reason,
          messageId: r.message_id,
          at: r.at,
        })),
      });
    }),
  );

  router.put(
    '/v1/suppressions/:address',
    rt.auth.require('email:manage'),
    validate({ params: AddressParams }),
    asyncHandler(async (req, res) => {
      const { orgId } = req.principal!;
      const created = await withOrg(rt.db.app, orgId, (trx) =>
        suppressAddress(rt, trx, orgId, { address: req.params.address, reason: 'manual' }, now()),
      );
      res.status(created ? 201 : 200).json({ address: req.params.address, suppressed: true });
    }),
  );

  router.delete(
    '/v1/suppressions/:address',
    rt.auth.require('email:manage'),
    validate({ params: AddressParams }),
    asyncHandler(async (req, res) => {
      const { orgId } = req.principal!;
      const removed = await withOrg(rt.db.app, orgId, (trx) =>
        unsuppressAddress(rt, trx, orgId, req.params.address, now()),
      );
      if (!removed) throw new NotFoundError(`${req.params.address} is not suppressed`);
      res.status(204).end();
    }),
  );
}
