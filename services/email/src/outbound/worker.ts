// Hands queued messages to SMTP, outside any transaction. A message's row was written with its
// rendered event (the intent); the worker leases due rows (replicas share them: FOR UPDATE SKIP
// LOCKED) and counts the attempt in the same statement, so the attempt is on record before the
// hand-off. It checks consent again (an unsubscribe or suppression since the request is honoured
// now, not eventually), takes the org's throttle, sends under the Message-ID derived from the
// message id, and records the outcome with the row's update in one transaction.
//
// The one window SMTP leaves open: the server accepted the message (250) and the worker died
// before recording it. The lease runs out, the row is leased again and the message is sent once
// more, with the same Message-ID, envelope and content; receiving systems that deduplicate by
// Message-ID (most large mailbox providers) drop it, and the second attempt's outcome is the one
// recorded (attempt 2 on the sent event shows it happened). Every other crash point either sends
// nothing (before the hand-off) or finds the outcome recorded (after it).
import type { ServiceRuntime } from '@cmis/platform';
import { SpanKind, Wakeup, withOrg, withSpanFrom, withSystem, type RateLimiter } from '@cmis/platform';
import type { EmailConfig } from '../config';
import { applyToMessage } from '../messages/apply';
import type { SendOutcome } from '../messages/message';
import { messageMetadata } from '../messages/record';
import type { StoredContent } from '../messages/request';
import { emailMetricsOf } from '../metrics';
import type { EmailSettings } from '../settings/settings';
import { messageIdFor, type SmtpSender } from '../sending/smtp-sender';
import { consentOf } from '../suppression/consent';

export interface SendWorkerOptions {
  rt: ServiceRuntime;
  config: EmailConfig;
  smtp: Pick<SmtpSender, 'send'>;
  settings: (orgId: string) => Promise<EmailSettings>;
  now: () => Date;
  /** Messages in flight at once (default 32). */
  concurrency?: number;
  /** How long a leased message is this worker's alone (default 2 min: SMTP timeouts fit in it). */
  leaseMs?: number;
  /** The safety-net poll when nothing wakes the worker (default 1 s). */
  intervalMs?: number;
}

export interface SendWorker {
  start(): void;
  wake(): void;
  stop(): Promise<void>;
}

interface Leased {
  org_id: string;
  message_id: string;
  attempts: number;
  content: StoredContent;
  metadata: Record<string, string>;
  contact_id: string | null;
  address: string;
  transactional: boolean;
  subscription_topic: string | null;
}

const MAX_BACKOFF_MS = 6 * 3_600_000;

/** Exponential backoff with ±20% jitter, so deferred messages of one outage do not return together. */
export function backoffMs(attempt: number, baseSeconds: number, random = Math.random): number {
  const raw = Math.min(MAX_BACKOFF_MS, baseSeconds * 1000 * 2 ** Math.max(0, attempt - 1));
  return Math.round(raw * (0.8 + 0.4 * random()));
}

export function createSendWorker(options: SendWorkerOptions): SendWorker {
  const { rt, config, smtp, now } = options;
  const concurrency = options.concurrency ?? 32;
  const leaseMs = options.leaseMs ?? 120_000;
  const intervalMs = options.intervalMs ?? 1_000;
  const running = new Set<Promise<void>>();
  const limiters = new Map<number, RateLimiter>();
  const wakeup = new Wakeup();
  const metrics = emailMetricsOf(rt.metrics);
  let stopping = false;
  let loop: Promise<void> | undefined;

  const limiterFor = (perSecond: number) => {
    let limiter = limiters.get(perSecond);
    if (!limiter) {
      limiter = rt.redis.rateLimiter({
        name: `email-sends-${perSecond}`,
        points: perSecond,
        durationSeconds: 1,
      });
      limiters.set(perSecond, limiter);
    }
    return limiter;
  };

  const lease = (limit: number): Promise<Leased[]> =>
    withSystem(rt.db.owner, async (trx) => {
      const at = now();
      const { rows } = await trx.raw<{ rows: Leased[] }>(
        `with due as (
           select org_id, message_id from messages
            where due_at <= ? and (leased_until is null or leased_until < ?)
            order by due_at
            limit ?
              for update skip locked
         )
         update messages m
            set leased_until = ?::timestamptz + make_interval(secs => ?), attempts = m.attempts + 1
           from due
          where m.org_id = due.org_id and m.message_id = due.message_id
        returning m.org_id, m.message_id, m.attempts, m.content, m.metadata, m.contact_id, m.address,
                  m.transactional, m.subscription_topic`,
        [at, at, limit, at, leaseMs / 1000],
      );
      return rows;
    });

  /** Puts a row back without counting the attempt (throttled: nothing was tried). */
  const putBack = (row: Leased, dueAt: Date) =>
    withOrg(rt.db.app, row.org_id, async (trx) => {
      await trx('messages')
        .where({ org_id: row.org_id, message_id: row.message_id })
        .update({ due_at: dueAt, leased_until: null, attempts: row.attempts - 1 });
    });

  /** Resolves to whether the outcome changed the message (an attempt already recorded does not). */
  const record = (row: Leased, outcome: SendOutcome, settings: EmailSettings) =>
    withOrg(rt.db.app, row.org_id, async (trx): Promise<boolean> => {
      const at = now();
      const { events } = await applyToMessage(
        rt,
        trx,
        row.org_id,
        row.message_id,
        {
          type: 'RecordSendOutcome',
          data: { attempt: row.attempts, outcome },
          metadata: messageMetadata(rt, at, {
            correlationId: row.metadata.correlationId,
            causationId: row.metadata.causationId,
          }),
        },
        settings,
      );
      const base = { leased_until: null };
      if (outcome.kind === 'deferred' && events.length > 0)
        await trx('messages')
          .where({ org_id: row.org_id, message_id: row.message_id })
          .update({ ...base, due_at: new Date(outcome.retryAt) });
      else
        await trx('messages')
          .where({ org_id: row.org_id, message_id: row.message_id })
          .update({
            ...base,
            due_at: null,
            content: null,
            ...(outcome.kind === 'accepted' ? { sent_at: at, smtp_message_id: outcome.smtpMessageId } : {}),
          });
      return events.length > 0;
    });

  const sendOne = (row: Leased): Promise<void> =>
    withSpanFrom(
      'send email',
      row.metadata,
      SpanKind.CLIENT,
      { 'cmis.org_id': row.org_id, 'cmis.message_id': row.message_id, 'cmis.attempt': row.attempts },
      async () => {
        const settings = await options.settings(row.org_id);
        const consent = await withOrg(rt.db.app, row.org_id, async (trx) => {
          const contact = row.contact_id
            ? await trx('contacts')
                .where({ org_id: row.org_id, contact_id: row.contact_id })
                .first('unsubscribed_at', 'unsubscribed_topics')
            : undefined;
          return consentOf(trx, row.org_id, row.address, contact, {
            transactional: row.transactional,
            subscriptionTopic: row.subscription_topic,
          });
        });
        if (consent.suppressed) {
          await record(row, { kind: 'suppressed', ...consent.suppressed }, settings);
          return;
        }
        const perSecond = settings.policy.sendsPerSecond;
        if (perSecond !== undefined) {
          const decision = await limiterFor(perSecond).consume(row.org_id);
          if (!decision.allowed)
            return putBack(row, new Date(now().getTime() + Math.max(50, decision.retryAfterMs)));
        }
        const provider = settings.provider
          ? { ...settings.provider, name: settings.provider.name ?? settings.provider.host }
          : config.defaultProvider;
        if (provider.sendsPerSecond !== undefined) {
          // Across orgs: every org sending through this host and port shares its rate.
          const decision = await limiterFor(provider.sendsPerSecond).consume(
            `provider:${provider.host}:${provider.port}`,
          );
          if (!decision.allowed)
            return putBack(row, new Date(now().getTime() + Math.max(50, decision.retryAfterMs)));
        }
        const domain = settings.dkim?.domainName ?? row.content.from.address.split('@')[1]!;
        const smtpMessageId = messageIdFor(row.message_id, domain);
        const result = await smtp.send(provider, {
          ...row.content,
          messageId: smtpMessageId,
          ...(settings.dkim ? { dkim: settings.dkim } : {}),
        });
        const { maxAttempts, retryBaseSeconds } = settings.policy;
        let outcome: SendOutcome;
        switch (result.kind) {
          case 'accepted':
            outcome = { kind: 'accepted', smtpMessageId, provider: provider.name, response: result.response };
            break;
          case 'bounced':
            outcome = {
              kind: 'bounced',
              bounceType: 'hard',
              reason: result.reason,
              smtpCode: result.smtpCode,
            };
            break;
          case 'deferred':
            outcome =
              row.attempts >= maxAttempts
                ? {
                    kind: 'bounced',
                    bounceType: 'soft',
                    reason: `gave up after ${row.attempts} attempts: ${result.reason}`,
                    ...(result.smtpCode !== undefined ? { smtpCode: result.smtpCode } : {}),
                  }
                : {
                    kind: 'deferred',
                    reason: result.reason,
                    ...(result.smtpCode !== undefined ? { smtpCode: result.smtpCode } : {}),
                    retryAt: new Date(
                      now().getTime() + backoffMs(row.attempts, retryBaseSeconds),
                    ).toISOString(),
                  };
            break;
          default: {
            const never: never = result;
            throw new Error(`unknown SMTP result ${JSON.stringify(never)}`);
          }
        }
        if (await record(row, outcome, settings)) metrics.sendOutcome(provider.name, outcome.kind);
      },
    );

  const run = async () => {
    while (!stopping) {
      try {
        wakeup.reset();
        const free = concurrency - running.size;
        const leased = free > 0 ? await lease(free) : [];
        for (const row of leased) {
          const sending = sendOne(row)
            .catch((error: unknown) =>
              // Not recorded: the lease runs out and the message is tried again (same Message-ID).
              rt.logger.error({ err: error, messageId: row.message_id }, 'email outcome not recorded'),
            )
            .finally(() => {
              running.delete(sending);
              wakeup.wake();
            });
          running.add(sending);
        }
        if (leased.length > 0 && leased.length === free) continue;
      } catch (error) {
        rt.logger.error({ err: error }, 'leasing queued email failed');
      }
      if (!stopping) await wakeup.wait(intervalMs);
    }
  };

  return {
    start() {
      loop ??= run();
    },
    wake: () => wakeup.wake(),
    async stop() {
      stopping = true;
      wakeup.wake();
      await loop;
      await Promise.allSettled([...running]);
    },
  };
}
