// Handles one email request in the org's transaction, from any door (the requests topic, the
// transactional API, a broadcast): who it goes to, whether they may get it, what it says (the
// template version rendered for them, links wrapped, unsubscribe headers), and when. The rendered
// message and its place in the send queue are written with its events: the intent recorded
// before the hand-off (outbound/worker.ts sends it).
import type { EmailRequested } from '@cmis/contracts';
import type { ServiceRuntime } from '@cmis/platform';
import type { Knex } from 'knex';
import { assignVariant } from '../abtests/assign';
import { verpAddress } from '../bounces/verp';
import type { EmailConfig } from '../config';
import { capExceeded } from '../policy/caps';
import { quietUntil } from '../policy/quiet-hours';
import { consentOf } from '../suppression/consent';
import type { EmailSettings } from '../settings/settings';
import { renderEmail, RenderError } from '../templates/render';
import { TemplateError } from '../templates/compile';
import type { TemplateLibrary } from '../templates/library';
import { instrumentHtml, instrumentText, textLinks } from '../tracking/links';
import { signTrackingToken, type TrackingClaim } from '../tracking/token';
import { messageIdOf } from './ids';
import type { RequestOutcome } from './message';
import { messageMetadata, recordMessage } from './record';

export interface RequestDeps {
  rt: ServiceRuntime;
  config: EmailConfig;
  templates: TemplateLibrary;
  settings: (orgId: string) => Promise<EmailSettings>;
  now: () => Date;
  /** Called once a transaction that queued a message committed (the send worker's wake). */
  onQueued?: () => void;
}

/** What the send worker needs to hand the message over, kept on its row until it leaves the queue. */
export interface StoredContent {
  from: { address: string; name?: string };
  replyTo?: string;
  to: { address: string; name?: string };
  subject: string;
  html?: string;
  text: string;
  envelopeFrom: string;
  headers: Record<string, string>;
}

export interface RequestResult {
  messageId: string;
  status: string;
  /** Why it was failed or suppressed. */
  reason?: string;
  /** False when the idempotency key named a message that existed already. */
  created: boolean;
}

interface ContactRow {
  contact_id: string;
  address: string | null;
  name: string | null;
  time_zone: string | null;
  locale: string | null;
  traits: Record<string, unknown>;
  unsubscribed_at: Date | null;
  unsubscribed_topics: string[];
}

export function createRequestHandler(deps: RequestDeps) {
  const { rt, config, templates, now } = deps;
  const sign = (claim: TrackingClaim) => signTrackingToken(config.secrets[0]!, claim);

  async function countRecent(trx: Knex.Transaction, orgId: string, contactId: string, at: Date) {
    const { rows } = await trx.raw<{ rows: Array<{ day: string; week: string }> }>(
      `select count(*) filter (where created_at > ?::timestamptz - interval '1 day') as day, count(*) as week
         from messages
        where org_id = ? and contact_id = ? and not transactional
          and created_at > ?::timestamptz - interval '7 days'
          and status not in ('suppressed', 'failed')`,
      [at, orgId, contactId, at],
    );
    return { lastDay: Number(rows[0]!.day), lastWeek: Number(rows[0]!.week) };
  }

  return async function handleRequest(
    trx: Knex.Transaction,
    orgId: string,
    request: EmailRequested,
    chain: { correlationId?: string; causationId?: string; actor?: string } = {},
  ): Promise<RequestResult> {
    const messageId = messageIdOf(orgId, request.idempotencyKey);
    const existing = await trx('messages').where({ org_id: orgId, message_id: messageId }).first('status');
    if (existing) return { messageId, status: existing.status as string, created: false };

    const at = now();
    const settings = await deps.settings(orgId);
    const transactional = request.transactional ?? false;
    let contact: ContactRow | undefined;
    let address: string | undefined;
    let recipientName: string | undefined;
    if (request.to.kind === 'contact') {
      contact = await trx('contacts').where({ org_id: orgId, contact_id: request.to.contactId }).first();
      address = contact?.address ?? undefined;
      recipientName = contact?.name ?? undefined;
    } else {
      address = request.to.address.toLowerCase();
      recipientName = request.to.name;
    }
    const contactId = request.to.kind === 'contact' ? request.to.contactId : undefined;
    const recipientKey = contactId ?? address!;

    const outcome = await decideOutcome();
    const { events } = await recordMessage(rt, trx, orgId, messageId, {
      type: 'RequestMessage',
      data: { messageId, request, ...(contactId ? { contactId } : {}), outcome: outcome.outcome },
      metadata: messageMetadata(rt, at, chain),
    });
    const status =
      outcome.outcome.kind === 'rendered'
        ? outcome.outcome.deferred
          ? 'deferred'
          : 'queued'
        : outcome.outcome.kind;
    if (events.length === 0) return { messageId, status, created: false };
    const reason =
      outcome.outcome.kind === 'failed' || outcome.outcome.kind === 'suppressed'
        ? outcome.outcome.reason
        : undefined;
    await trx('messages').insert({
      org_id: orgId,
      message_id: messageId,
      idempotency_key: request.idempotencyKey,
      status,
      contact_id: contactId ?? null,
      address: address ?? null,
      recipient_name: recipientName ?? null,
      origin: JSON.stringify(request.origin),
      transactional,
      subscription_topic: request.subscriptionTopic ?? null,
      template_id: outcome.templateId ?? null,
      template_version: outcome.templateVersion ?? null,
      ab_test_id: outcome.abTestId ?? null,
      variant_id: outcome.variantId ?? null,
      subject: outcome.content?.subject ?? null,
      links: JSON.stringify(outcome.links ?? []),
      content: outcome.content ? JSON.stringify(outcome.content) : null,
      metadata: JSON.stringify({ ...rt.eventMetadata(chain) }),
      due_at:
        outcome.outcome.kind === 'rendered' ? (outcome.outcome.deferred?.retryAt ?? at.toISOString()) : null,
      created_at: at,
    });
    if (outcome.outcome.kind === 'rendered' && deps.onQueued)
      void trx.executionPromise.then(deps.onQueued, () => undefined);
    return { messageId, status, created: true, ...(reason ? { reason } : {}) };

    async function decideOutcome(): Promise<{
      outcome: RequestOutcome;
      content?: StoredContent;
      links?: Array<{ index: number; url: string; honeypot: boolean }>;
      templateId?: string;
      templateVersion?: number;
      abTestId?: string;
      variantId?: string;
    }> {
      if (request.to.kind === 'contact' && !contact)
        return {
          outcome: { kind: 'failed', reason: `unknown contact ${request.to.contactId}: no email address` },
        };
      if (!address) return { outcome: { kind: 'failed', reason: 'the contact has no email address' } };
      const consent = await consentOf(trx, orgId, address, contact, {
        transactional,
        subscriptionTopic: request.subscriptionTopic,
      });
      if (consent.suppressed) return { outcome: { kind: 'suppressed', address, ...consent.suppressed } };
      if (!transactional && contactId) {
        const capped = capExceeded(
          settings.policy.frequencyCaps,
          await countRecent(trx, orgId, contactId, at),
        );
        if (capped)
          return { outcome: { kind: 'suppressed', reason: 'frequency_cap', detail: capped, address } };
      }

      // The variant (sticky per test and recipient), then the content it names.
      const test = request.abTest;
      const variant = test
        ? (test.variants.find((v) => v.variantId === test.winnerVariantId) ??
          assignVariant(test.testId, recipientKey, test.variants))
        : undefined;
      let source: Awaited<ReturnType<TemplateLibrary['compiled']>>;
      try {
        source =
          request.content.kind === 'template'
            ? await templates.compiled(
                trx,
                orgId,
                variant?.templateId ?? request.content.templateId,
                variant?.templateId ? undefined : request.content.version,
              )
            : await templates.inline(trx, orgId, request.content);
      } catch (error) {
        if (error instanceof TemplateError)
          return { outcome: { kind: 'failed', reason: error.message, address } };
        throw error;
      }
      if (!source) {
        const id =
          request.content.kind === 'template' ? (variant?.templateId ?? request.content.templateId) : '';
        return { outcome: { kind: 'failed', reason: `unknown template ${id}`, address } };
      }

      const base = config.publicUrl();
      const claim = { orgId, messageId };
      const unsubscribeUrl = `${base}/u/${sign({ ...claim, purpose: 'unsubscribe' })}`;
      const preferencesUrl = `${base}/p/${sign({ ...claim, purpose: 'preferences' })}`;
      let rendered;
      try {
        rendered = await renderEmail(source.compiled, {
          vars: {
            ...request.data,
            contact: {
              ...(contact?.traits ?? {}),
              id: contactId,
              email: address,
              name: recipientName,
              locale: contact?.locale ?? undefined,
            },
          },
          unsubscribeUrl,
          preferencesUrl,
        });
      } catch (error) {
        if (error instanceof RenderError || error instanceof TemplateError)
          return { outcome: { kind: 'failed', reason: error.message, address } };
        throw error;
      }
      const subject = variant?.subject ?? rendered.subject;
      const linkUrl = (index: number) =>
        `${base}/t/c/${sign({ ...claim, purpose: 'click', linkIndex: index })}`;
      // Text-only mail (a rule's notification) has its URLs tracked by themselves.
      const instrumented = rendered.html
        ? instrumentHtml(rendered.html, {
            linkUrl,
            openPixelUrl: `${base}/t/o/${sign({ ...claim, purpose: 'open' })}`,
            honeypotUrl: linkUrl,
          })
        : { html: undefined, links: textLinks(rendered.text) };
      const text = instrumentText(rendered.text, instrumented.links, linkUrl);
      const unsubscribeMailto = `unsubscribe+${sign({ ...claim, purpose: 'unsubscribe' })}@${config.bounceDomain}`;
      const content: StoredContent = {
        from: settings.from ?? { address: config.defaultFrom },
        ...(settings.replyTo ? { replyTo: settings.replyTo } : {}),
        to: { address, ...(recipientName ? { name: recipientName } : {}) },
        subject,
        ...(instrumented.html !== undefined ? { html: instrumented.html } : {}),
        text,
        envelopeFrom: verpAddress({
          localPart: 'bounces',
          domain: config.bounceDomain,
          orgId,
          messageId,
          secret: config.secrets[0]!,
        }),
        headers: {
          'List-Unsubscribe': `<${unsubscribeUrl}>, <mailto:${unsubscribeMailto}>`,
          'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
          'X-CMIS-Message-Id': messageId,
        },
      };

      // Quiet hours in the recipient's zone (marketing only), and a requested earliest time.
      let deferred: { reason: string; retryAt: string } | undefined;
      const quiet = settings.policy.quietHours;
      if (!transactional && quiet) {
        const until = quietUntil(
          at,
          contact?.time_zone ?? settings.policy.defaultTimeZone,
          quiet,
          settings.policy.defaultTimeZone,
        );
        if (until) deferred = { reason: 'quiet hours', retryAt: until.toISOString() };
      }
      if (
        request.notBefore &&
        new Date(request.notBefore) > at &&
        (!deferred || new Date(request.notBefore) > new Date(deferred.retryAt))
      )
        deferred = { reason: 'not before', retryAt: new Date(request.notBefore).toISOString() };

      return {
        outcome: {
          kind: 'rendered',
          address,
          ...(source.templateId ? { templateId: source.templateId, templateVersion: source.version } : {}),
          subject,
          ...(test ? { abTestId: test.testId, variantId: variant!.variantId } : {}),
          links: instrumented.links.filter((l) => !l.honeypot).length,
          ...(deferred ? { deferred } : {}),
        },
        content,
        links: instrumented.links,
        templateId: source.templateId,
        templateVersion: source.version,
        abTestId: test?.testId,
        variantId: variant?.variantId,
      };
    }
  };
}

export type HandleRequest = ReturnType<typeof createRequestHandler>;
