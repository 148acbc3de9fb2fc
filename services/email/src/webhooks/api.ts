// Providers' delivery webhooks, one endpoint per org and provider. Nothing is recorded from a
// request that does not verify (401 bad or missing credentials, 403 verified but not allowed);
// a verified report is applied to the message it names (by our Message-ID, the VERP return path
// or the id we attached), and a hard bounce or complaint suppresses the address even when the
// message is not one of ours to find.
import {
  asyncHandler,
  HttpProblem,
  NotFoundError,
  rawBodyOf,
  withOrg,
  type InvalidatingCache,
  type ServiceRuntime,
} from '@cmis/platform';
import express, { type Request, type Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { verifyMailgun, parseMailgun } from '../bounces/mailgun';
import { parsePostmark, verifyPostmarkAuth } from '../bounces/postmark';
import type { DeliveryReport } from '../bounces/report';
import { WebhookRejected } from '../bounces/report';
import { parseSendgridEvents, verifySendgrid } from '../bounces/sendgrid';
import { verifySnsMessage, type SnsOptions } from '../bounces/ses';
import { isSnsEndpointUrl } from '../bounces/sns-certificate';
import type { EmailSettings } from '../settings/settings';
import type { EmailConfig } from '../config';
import { applyReports } from './apply';

const OrgParams = z.object({ orgId: z.string().uuid() });

export interface WebhookDeps {
  rt: ServiceRuntime;
  config: EmailConfig;
  settings: InvalidatingCache<EmailSettings>;
  now: () => Date;
  /** SNS certificate and subscription checks; tests point them at loopback. */
  sns?: Pick<SnsOptions, 'certUrlAllowed' | 'fetchCertificate'> & {
    confirmSubscription?: (url: string) => Promise<void>;
  };
}

const header = (req: Request, name: string) => {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** The body's bytes whichever parser saw it (SNS posts JSON as text/plain). */
function bodyBytes(req: Request): Buffer {
  const raw = rawBodyOf(req);
  if (raw) return raw;
  if (Buffer.isBuffer(req.body)) return req.body;
  if (typeof req.body === 'string') return Buffer.from(req.body);
  return Buffer.from(JSON.stringify(req.body ?? {}));
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new WebhookRejected(400, 'the body is not JSON');
  }
}

const defaultConfirm = async (url: string) => {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000), redirect: 'error' });
  if (!res.ok) throw new Error(`SubscribeURL answered ${res.status}`);
};

export function webhookRoutes(router: Router, deps: WebhookDeps): void {
  const { rt, now } = deps;
  // Bodies other than JSON (SNS sends text/plain) are read here, with the same size bound.
  const rawText = express.raw({ type: (req) => !rawBodyOf(req as Request), limit: '512kb' });

  const endpoint = (
    provider: string,
    handle: (
      req: Request,
      orgId: string,
      settings: EmailSettings,
    ) => Promise<
      DeliveryReport[] | { reports: DeliveryReport[]; also: (trx: Knex.Transaction) => Promise<void> }
    >,
  ) =>
    router.post(
      `/webhooks/:orgId/${provider}`,
      rawText,
      asyncHandler(async (req, res) => {
        const params = OrgParams.safeParse(req.params);
        if (!params.success) throw new NotFoundError('No such webhook endpoint');
        const { orgId } = params.data;
        const settings = await deps.settings.get(orgId);
        let handled: Awaited<ReturnType<typeof handle>>;
        try {
          handled = await handle(req, orgId, settings);
        } catch (error) {
          if (error instanceof WebhookRejected)
            throw new HttpProblem(
              error.status,
              error.status === 400 ? 'Invalid request' : error.status === 401 ? 'Unauthorized' : 'Forbidden',
              error.message,
            );
          throw error;
        }
        const { reports, also } = Array.isArray(handled) ? { reports: handled, also: undefined } : handled;
        const applied = await applyReports(rt, deps.config, orgId, reports, settings, now(), also);
        res.json({ received: reports.length, applied });
      }),
    );

  const extraCertHosts = new Set(deps.config.snsCertHosts);
  const certUrlAllowed =
    deps.sns?.certUrlAllowed ??
    (extraCertHosts.size > 0
      ? (url: URL) => isSnsEndpointUrl(url) || extraCertHosts.has(url.host)
      : undefined);

  endpoint('ses', async (req, _orgId, settings) => {
    const message = await verifySnsMessage(parseJson(bodyBytes(req)), {
      topicArnAllowed: (arn) => settings.webhooks.sesTopicArns.includes(arn),
      now: now(),
      ...(certUrlAllowed ? { certUrlAllowed } : {}),
      ...(deps.sns?.fetchCertificate ? { fetchCertificate: deps.sns.fetchCertificate } : {}),
    });
    if (message.kind === 'subscription-confirmation') {
      await (deps.sns?.confirmSubscription ?? defaultConfirm)(message.subscribeUrl);
      return [];
    }
    return message.kind === 'notification' ? message.reports : [];
  });

  endpoint('sendgrid', async (req, _orgId, settings) => {
    const key = settings.webhooks.sendgridPublicKey;
    if (!key) throw new WebhookRejected(401, 'no SendGrid verification key is configured for this org');
    const bytes = bodyBytes(req);
    verifySendgrid({
      publicKey: key,
      signature: header(req, 'x-twilio-email-event-webhook-signature'),
      timestamp: header(req, 'x-twilio-email-event-webhook-timestamp'),
      rawBody: bytes,
      now: now(),
    });
    return parseSendgridEvents(parseJson(bytes));
  });

  endpoint('postmark', async (req, _orgId, settings) => {
    const expected = settings.webhooks.postmark;
    if (!expected) throw new WebhookRejected(401, 'no Postmark credentials are configured for this org');
    verifyPostmarkAuth(header(req, 'authorization'), expected);
    return parsePostmark(parseJson(bodyBytes(req)));
  });

  endpoint('mailgun', async (req, orgId, settings) => {
    const signingKey = settings.webhooks.mailgunSigningKey;
    if (!signingKey) throw new WebhookRejected(401, 'no Mailgun signing key is configured for this org');
    const body = parseJson(bodyBytes(req)) as {
      signature?: { timestamp: string; token: string; signature: string };
    };
    const signature = body?.signature;
    await verifyMailgun({
      signingKey,
      signature,
      now: now(),
      tokenSeenBefore: (token) =>
        withOrg(rt.db.app, orgId, async (trx) =>
          Boolean(await trx('webhook_tokens').where({ org_id: orgId, token }).first('token')),
        ),
    });
    // The token is remembered with the reports' effects: a request that fails to apply can be
    // retried by Mailgun; a concurrent replay that slipped past the check changes nothing (the
    // reports are idempotent per message).
    return {
      reports: parseMailgun(body),
      also: async (trx) => {
        await trx('webhook_tokens')
          .insert({ org_id: orgId, token: signature!.token, seen_at: now() })
          .onConflict(['org_id', 'token'])
          .ignore();
      },
    };
  });
}
