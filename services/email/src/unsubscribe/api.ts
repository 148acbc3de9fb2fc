// RFC 8058 one-click unsubscribe, the visible unsubscribe link's page, and the preference center
// of the contact a message went to. Reached through signed tokens only; a token that does not
// verify gets 404. Consent changes apply before the next send: the send worker checks them.
import {
  asyncHandler,
  NotFoundError,
  withOrg,
  type InvalidatingCache,
  type ServiceRuntime,
} from '@cmis/platform';
import express, { type Request, type Response, type Router } from 'express';
import type { EmailConfig } from '../config';
import { applyToMessage } from '../messages/apply';
import { messageMetadata } from '../messages/record';
import type { EmailSettings } from '../settings/settings';
import { resubscribeContact, unsubscribeContact } from '../suppression/consent';
import { verifyTrackingToken, type TrackingClaim } from '../tracking/token';
import { escapeHtml, page } from './page';

export interface UnsubscribeDeps {
  rt: ServiceRuntime;
  config: EmailConfig;
  settings: InvalidatingCache<EmailSettings>;
  now: () => Date;
}

interface MessageRow {
  contact_id: string | null;
  address: string | null;
}

export function unsubscribeRoutes(router: Router, deps: UnsubscribeDeps): void {
  const { rt, config, now } = deps;
  const form = express.urlencoded({ extended: false, limit: '16kb' });

  const claimOf = (req: Request, purpose: TrackingClaim['purpose']) => {
    const claim = verifyTrackingToken(config.secrets, String(req.params.token ?? ''));
    if (!claim || claim.purpose !== purpose) throw new NotFoundError('No such link');
    return claim;
  };
  const messageOf = async (trx: Parameters<Parameters<typeof withOrg>[2]>[0], claim: TrackingClaim) => {
    const row = (await trx('messages')
      .where({ org_id: claim.orgId, message_id: claim.messageId })
      .first('contact_id', 'address')) as MessageRow | undefined;
    if (!row?.address) throw new NotFoundError('No such link');
    return row as MessageRow & { address: string };
  };
  const html = (res: Response, status: number, body: string) =>
    res.status(status).set('cache-control', 'no-store').type('html').send(body);

  router.get(
    '/u/:token',
    asyncHandler(async (req, res) => {
      const claim = claimOf(req, 'unsubscribe');
      const row = await withOrg(rt.db.app, claim.orgId, (trx) => messageOf(trx, claim));
      html(
        res,
        200,
        page(
          'Unsubscribe',
          `<p>Stop marketing email to <strong>${escapeHtml(row.address)}</strong>?</p>
           <form method="post"><button type="submit" name="confirm" value="yes">Unsubscribe</button></form>`,
        ),
      );
    }),
  );

  router.post(
    '/u/:token',
    form,
    asyncHandler(async (req, res) => {
      const claim = claimOf(req, 'unsubscribe');
      // RFC 8058: the mailbox provider POSTs List-Unsubscribe=One-Click, with no user present.
      const oneClick = (req.body as Record<string, string> | undefined)?.['List-Unsubscribe'] === 'One-Click';
      const at = now();
      const settings = await deps.settings.get(claim.orgId);
      await withOrg(rt.db.app, claim.orgId, async (trx) => {
        await messageOf(trx, claim);
        await applyToMessage(
          rt,
          trx,
          claim.orgId,
          claim.messageId,
          {
            type: 'RecordUnsubscribe',
            data: { scope: 'all', method: oneClick ? 'one_click' : 'link' },
            metadata: messageMetadata(rt, at),
          },
          settings,
        );
      });
      html(res, 200, page('Unsubscribed', '<p>You will receive no more marketing email from us.</p>'));
    }),
  );

  router.get(
    '/p/:token',
    asyncHandler(async (req, res) => {
      const claim = claimOf(req, 'preferences');
      const settings = await deps.settings.get(claim.orgId);
      const state = await withOrg(rt.db.app, claim.orgId, async (trx) => {
        const row = await messageOf(trx, claim);
        const contact = row.contact_id
          ? await trx('contacts')
              .where({ org_id: claim.orgId, contact_id: row.contact_id })
              .first('unsubscribed_at', 'unsubscribed_topics')
          : undefined;
        return { row, contact };
      });
      if (!state.contact) throw new NotFoundError('No preferences for this address');
      const off = new Set<string>(state.contact.unsubscribed_topics);
      const topics = settings.subscriptionTopics
        .map(
          (t) =>
            `<label><input type="checkbox" name="topic" value="${escapeHtml(t.id)}"${off.has(t.id) ? '' : ' checked'}> ${escapeHtml(t.name)}</label><br>`,
        )
        .join('\n');
      html(
        res,
        200,
        page(
          'Email preferences',
          `<p>Email for <strong>${escapeHtml(state.row.address)}</strong></p>
           <form method="post">${topics}
             <label><input type="checkbox" name="all" value="off"${state.contact.unsubscribed_at ? ' checked' : ''}> Unsubscribe from all marketing email</label><br>
             <button type="submit">Save</button></form>`,
        ),
      );
    }),
  );

  router.post(
    '/p/:token',
    form,
    asyncHandler(async (req, res) => {
      const claim = claimOf(req, 'preferences');
      const settings = await deps.settings.get(claim.orgId);
      const body = (req.body ?? {}) as Record<string, string | string[]>;
      const wanted = new Set([body.topic ?? []].flat());
      const all = body.all === 'off';
      const at = now();
      await withOrg(rt.db.app, claim.orgId, async (trx) => {
        const row = await messageOf(trx, claim);
        if (!row.contact_id) throw new NotFoundError('No preferences for this address');
        const who = { contactId: row.contact_id, address: row.address };
        for (const topic of settings.subscriptionTopics) {
          if (wanted.has(topic.id))
            await resubscribeContact(rt, trx, claim.orgId, { ...who, scope: 'topic', topic: topic.id }, at);
          else
            await unsubscribeContact(
              rt,
              trx,
              claim.orgId,
              { ...who, scope: 'topic', topic: topic.id, messageId: claim.messageId, method: 'preferences' },
              at,
            );
        }
        if (all)
          await unsubscribeContact(
            rt,
            trx,
            claim.orgId,
            { ...who, scope: 'all', messageId: claim.messageId, method: 'preferences' },
            at,
          );
        else await resubscribeContact(rt, trx, claim.orgId, { ...who, scope: 'all' }, at);
      });
      html(res, 200, page('Preferences saved', '<p>Your email preferences are saved.</p>'));
    }),
  );
}
