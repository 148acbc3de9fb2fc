// What recipients' mail clients hit: the open pixel and the click redirect. A token that does not
// verify (forged, altered, another purpose) gets 404 and records nothing; a click redirects only
// to the link at that index of the message as it was rendered. Every hit is recorded with its
// machine flag (privacy proxies, scanners, prefetches, the honeypot link); counting is analytics'.
import {
  asyncHandler,
  NotFoundError,
  withOrg,
  type InvalidatingCache,
  type ServiceRuntime,
} from '@cmis/platform';
import type { Request, Response, Router } from 'express';
import type { EmailConfig } from '../config';
import { applyToMessage } from '../messages/apply';
import { messageMetadata } from '../messages/record';
import type { EmailSettings } from '../settings/settings';
import { classifyHit } from './machine';
import { verifyTrackingToken, type TrackingClaim } from './token';

// A transparent 1×1 GIF.
const PIXEL = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

export interface TrackingDeps {
  rt: ServiceRuntime;
  config: EmailConfig;
  settings: InvalidatingCache<EmailSettings>;
  now: () => Date;
  classify?: { minHumanClickDelayMs?: number };
}

interface TrackedMessage {
  sent_at: Date | null;
  links: Array<{ index: number; url: string; honeypot: boolean }>;
}

export function trackingRoutes(router: Router, deps: TrackingDeps): void {
  const { rt, config, now } = deps;

  const claimOf = (req: Request, purpose: TrackingClaim['purpose']) => {
    const claim = verifyTrackingToken(config.secrets, String(req.params.token ?? ''));
    if (!claim || claim.purpose !== purpose) throw new NotFoundError('No such link');
    return claim;
  };

  const hit = async (req: Request, claim: TrackingClaim) => {
    const at = now();
    const settings = await deps.settings.get(claim.orgId);
    return withOrg(rt.db.app, claim.orgId, async (trx) => {
      const message = (await trx('messages')
        .where({ org_id: claim.orgId, message_id: claim.messageId })
        .first('sent_at', 'links')) as TrackedMessage | undefined;
      if (!message) throw new NotFoundError('No such link');
      const link =
        claim.linkIndex === undefined ? undefined : message.links.find((l) => l.index === claim.linkIndex);
      if (claim.purpose === 'click' && !link) throw new NotFoundError('No such link');
      const userAgent = req.headers['user-agent'];
      const purpose =
        req.get('sec-purpose') ?? req.get('purpose') ?? req.get('x-purpose') ?? req.get('x-moz');
      const verdict = classifyHit(
        {
          kind: claim.purpose === 'click' ? 'click' : 'open',
          method: req.method,
          ...(userAgent ? { userAgent } : {}),
          ...(req.ip ? { ip: req.ip } : {}),
          at,
          ...(message.sent_at ? { sentAt: new Date(message.sent_at) } : {}),
          ...(link?.honeypot ? { honeypot: true } : {}),
          ...(purpose ? { purpose } : {}),
        },
        deps.classify,
      );
      const flag = {
        machine: verdict.machine,
        ...(verdict.reason ? { machineReason: verdict.reason } : {}),
        ...(userAgent ? { userAgent } : {}),
      };
      await applyToMessage(
        rt,
        trx,
        claim.orgId,
        claim.messageId,
        claim.purpose === 'click'
          ? {
              type: 'RecordClick',
              data: { ...flag, linkIndex: link!.index, url: link!.url },
              metadata: messageMetadata(rt, at),
            }
          : { type: 'RecordOpen', data: flag, metadata: messageMetadata(rt, at) },
        settings,
      );
      return link;
    });
  };

  const noStore = (res: Response) =>
    res.set('cache-control', 'no-store, max-age=0').set('referrer-policy', 'no-referrer');

  router.get(
    '/t/o/:token',
    asyncHandler(async (req, res) => {
      await hit(req, claimOf(req, 'open'));
      noStore(res).type('image/gif').send(PIXEL);
    }),
  );

  router.get(
    '/t/c/:token',
    asyncHandler(async (req, res) => {
      const link = await hit(req, claimOf(req, 'click'));
      noStore(res).redirect(302, link!.url);
    }),
  );
}
