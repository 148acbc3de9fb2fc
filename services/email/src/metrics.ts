// What the email service counts for /metrics: each recorded send attempt under the provider it
// went to, and each delivery report (bounce, complaint, delivery) that changed a message, under
// its source. Counted after the commit, so a rolled-back attempt counts nothing.
import { Counter, type Metrics } from '@cmis/platform';
import type { DeliveryReport } from './bounces/report';
import type { SendOutcome } from './messages/message';

/** The message event an attempt's outcome became (`accepted` is the `message-sent` event). */
export type SendOutcomeLabel = 'sent' | 'deferred' | 'bounced' | 'suppressed' | 'failed';

export interface EmailMetrics {
  sendOutcome(provider: string, outcome: SendOutcome['kind']): void;
  deliveryReport(report: Pick<DeliveryReport, 'source' | 'type'>): void;
}

export function sendOutcomeLabel(kind: SendOutcome['kind']): SendOutcomeLabel {
  return kind === 'accepted' ? 'sent' : kind;
}

const byRegistry = new WeakMap<Metrics['registry'], EmailMetrics>();

/** One set per registry: the worker, the webhooks and the SMTP receiver share it. */
export function emailMetricsOf(metrics: Metrics): EmailMetrics {
  const known = byRegistry.get(metrics.registry);
  if (known) return known;
  const registers = [metrics.registry];
  const sends = new Counter({
    name: 'email_send_outcomes_total',
    help: 'Send attempts recorded, by provider and outcome (sent, deferred, bounced)',
    labelNames: ['provider', 'outcome'],
    registers,
  });
  const reports = new Counter({
    name: 'email_delivery_reports_total',
    help: 'Delivery reports applied to a message, by source (ses, sendgrid, postmark, mailgun, dsn) and type',
    labelNames: ['source', 'type'],
    registers,
  });
  const created: EmailMetrics = {
    sendOutcome: (provider, outcome) => sends.inc({ provider, outcome: sendOutcomeLabel(outcome) }),
    deliveryReport: ({ source, type }) => reports.inc({ source, type }),
  };
  byRegistry.set(metrics.registry, created);
  return created;
}
