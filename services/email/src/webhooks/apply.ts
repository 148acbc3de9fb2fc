// Applies verified delivery reports (provider webhooks, DSNs through the SMTP receiver) to the
// messages they name, in one transaction of the org.
import type { ServiceRuntime } from '@cmis/platform';
import { withOrg } from '@cmis/platform';
import type { Knex } from 'knex';
import type { DeliveryReport, MessageRef } from '../bounces/report';
import { parseVerp } from '../bounces/verp';
import type { EmailConfig } from '../config';
import { applyToMessage } from '../messages/apply';
import type { ProviderReport } from '../messages/message';
import { messageMetadata } from '../messages/record';
import { emailMetricsOf } from '../metrics';
import type { EmailSettings } from '../settings/settings';
import { suppressAddress } from '../suppression/consent';

const MESSAGE_ID = /^[0-9a-f]{32}$/;

/** Our message id from whatever the report carries, when it is this org's. */
async function messageIdOf(
  trx: Knex.Transaction,
  config: EmailConfig,
  orgId: string,
  ref: MessageRef,
): Promise<string | undefined> {
  const candidates: string[] = [];
  if (ref.cmisMessageId && MESSAGE_ID.test(ref.cmisMessageId)) candidates.push(ref.cmisMessageId);
  if (ref.verpAddress) {
    const verp = parseVerp(ref.verpAddress, config.secrets);
    if (verp && verp.orgId === orgId) candidates.push(verp.messageId);
  }
  if (ref.smtpMessageId) {
    // Our Message-IDs are <messageId@domain>.
    const local = ref.smtpMessageId.replace(/^<|>$/g, '').split('@')[0]!.toLowerCase();
    if (MESSAGE_ID.test(local)) candidates.push(local);
  }
  for (const id of candidates) {
    const row = await trx('messages').where({ org_id: orgId, message_id: id }).first('message_id');
    if (row) return id;
  }
  if (ref.smtpMessageId) {
    const row = await trx('messages')
      .where({ org_id: orgId, smtp_message_id: ref.smtpMessageId })
      .first('message_id');
    if (row) return row.message_id as string;
  }
  return undefined;
}

function asProviderReport(report: DeliveryReport): ProviderReport {
  switch (report.type) {
    case 'delivered':
      return {
        kind: 'delivered',
        provider: report.source,
        ...(report.detail ? { detail: report.detail } : {}),
      };
    case 'bounce':
      return {
        kind: 'bounced',
        bounceType: report.bounceType,
        reason: report.reason,
        ...(report.smtpCode !== undefined ? { smtpCode: report.smtpCode } : {}),
        source: report.source,
      };
    case 'complaint':
      return {
        kind: 'complained',
        source: report.source,
        ...(report.feedbackType ? { feedbackType: report.feedbackType } : {}),
      };
    default: {
      const never: never = report;
      throw new Error(`unknown report ${JSON.stringify(never)}`);
    }
  }
}

/** Returns how many reports changed something. */
export async function applyReports(
  rt: ServiceRuntime,
  config: EmailConfig,
  orgId: string,
  reports: DeliveryReport[],
  settings: EmailSettings,
  at: Date,
  also?: (trx: Knex.Transaction) => Promise<void>,
): Promise<number> {
  const changedMessages: DeliveryReport[] = [];
  const applied = await withOrg(rt.db.app, orgId, async (trx) => {
    await also?.(trx);
    let applied = 0;
    for (const report of reports) {
      const messageId = await messageIdOf(trx, config, orgId, report.ref);
      if (messageId) {
        const { events } = await applyToMessage(
          rt,
          trx,
          orgId,
          messageId,
          { type: 'RecordReport', data: asProviderReport(report), metadata: messageMetadata(rt, at) },
          settings,
        );
        if (events.length > 0) {
          applied++;
          changedMessages.push(report);
        }
      } else if ((report.type === 'bounce' && report.bounceType === 'hard') || report.type === 'complaint') {
        const reason = report.type === 'complaint' ? 'complaint' : 'hard_bounce';
        const address = report.address.toLowerCase();
        if (await suppressAddress(rt, trx, orgId, { address, reason, detail: `${report.source} report` }, at))
          applied++;
      }
    }
    return applied;
  });
  const metrics = emailMetricsOf(rt.metrics);
  for (const report of changedMessages) metrics.deliveryReport(report);
  return applied;
}
