// Mail that reaches the service's SMTP receiver: DSNs and feedback reports sent to a VERP return
// path are applied to their message; mail to an unsubscribe+<token> address (the List-Unsubscribe
// mailto) unsubscribes; anything else goes to the dev inbox when it is on. A report that cannot be
// parsed is logged and counted, and kept in the dev inbox when that is on, never half-applied.
import { Counter, withOrg, withSystem, type InvalidatingCache, type ServiceRuntime } from '@cmis/platform';
import { MalformedMessage, parseInboundReport } from '../bounces/dsn';
import { parseVerp } from '../bounces/verp';
import type { EmailConfig } from '../config';
import { applyToMessage } from '../messages/apply';
import { messageMetadata } from '../messages/record';
import { parseReceived } from '../receiver/parse';
import type { ReceivedEmail } from '../receiver/smtp-receiver';
import type { EmailSettings } from '../settings/settings';
import { verifyTrackingToken } from '../tracking/token';
import { applyReports } from '../webhooks/apply';

export interface InboundDeps {
  rt: ServiceRuntime;
  config: EmailConfig;
  settings: InvalidatingCache<EmailSettings>;
  now: () => Date;
}

export function createInboundHandler(deps: InboundDeps) {
  const { rt, config, now } = deps;
  const rejected = new Counter({
    name: 'email_inbound_rejected_total',
    help: 'Mail to the SMTP receiver that could not be used (malformed reports, forged addresses)',
    labelNames: ['reason'],
    registers: [rt.metrics.registry],
  });
  const domain = config.bounceDomain.toLowerCase();

  async function toDevInbox(email: ReceivedEmail) {
    if (!config.devInbox) return;
    let parsed: Awaited<ReturnType<typeof parseReceived>> | undefined;
    try {
      parsed = await parseReceived(email.raw);
    } catch {
      parsed = undefined;
    }
    await withSystem(rt.db.owner, (trx) =>
      trx('dev_inbox').insert({
        envelope_from: email.envelopeFrom ?? null,
        recipients: email.recipients,
        message_id: parsed?.messageId ?? null,
        subject: parsed?.subject ?? (parsed ? null : '(unparseable message)'),
        from_header: parsed?.from ?? null,
        to_header: parsed?.to.join(', ') ?? null,
        html: parsed?.html ?? null,
        text: parsed?.text ?? null,
        headers: JSON.stringify(parsed?.headers ?? []),
        raw: email.raw,
      }),
    );
  }

  return async function receive(email: ReceivedEmail): Promise<void> {
    let forDevInbox = false;
    for (const recipient of email.recipients) {
      const [local, host] = recipient.toLowerCase().split('@') as [string, string | undefined];
      if (host !== domain) {
        forDevInbox = true;
        continue;
      }
      if (local.startsWith('bounces+')) {
        const verp = parseVerp(recipient, config.secrets);
        if (!verp) {
          rejected.inc({ reason: 'unknown_verp' });
          rt.logger.warn({ recipient }, 'bounce to a VERP address that does not verify; ignored');
          continue;
        }
        let reports;
        try {
          reports = await parseInboundReport(email.raw, recipient);
        } catch (error) {
          if (!(error instanceof MalformedMessage)) throw error;
          rejected.inc({ reason: 'malformed_report' });
          rt.logger.warn({ recipient, err: error }, 'malformed delivery report; not applied');
          forDevInbox = true;
          continue;
        }
        // The VERP address names the message, whatever the report's own headers say.
        const settings = await deps.settings.get(verp.orgId);
        await applyReports(
          rt,
          config,
          verp.orgId,
          reports.map((r) => ({ ...r, ref: { ...r.ref, cmisMessageId: verp.messageId } })),
          settings,
          now(),
        );
      } else if (local.startsWith('unsubscribe+')) {
        const claim = verifyTrackingToken(
          config.secrets,
          recipient.split('@')[0]!.slice('unsubscribe+'.length),
        );
        if (!claim || claim.purpose !== 'unsubscribe') {
          rejected.inc({ reason: 'unknown_unsubscribe' });
          continue;
        }
        const settings = await deps.settings.get(claim.orgId);
        await withOrg(rt.db.app, claim.orgId, async (trx) => {
          const row = await trx('messages')
            .where({ org_id: claim.orgId, message_id: claim.messageId })
            .first('status');
          if (!row) return;
          await applyToMessage(
            rt,
            trx,
            claim.orgId,
            claim.messageId,
            {
              type: 'RecordUnsubscribe',
              data: { scope: 'all', method: 'mailto' },
              metadata: messageMetadata(rt, now()),
            },
            settings,
          );
        });
      } else forDevInbox = true;
    }
    if (forDevInbox) await toDevInbox(email);
  };
}
