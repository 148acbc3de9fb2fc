// Reports that come back by mail to a VERP return path, through the SMTP receiver: delivery
// status notifications (RFC 3464, multipart/report; report-type=delivery-status) and feedback
// reports (ARF, RFC 5965, report-type=feedback-report). A message that is neither is not a
// report ([]); one that claims to be and cannot be read is a MalformedMessage, never applied in
// part.
import { MalformedMessage } from './malformed-message';
import {
  contentTypeOf,
  decodedBody,
  headerOf,
  parseEntity,
  parseFields,
  partsOf,
  type HeaderField,
  type MimeEntity,
} from './mime';
import { cmisMessageIdOf, definedOnly } from './payload';
import type { DeliveryReport, MessageRef } from './report';
import { diagnosticText, isPermanentFailure, smtpReplyCode } from './smtp';

export { MalformedMessage } from './malformed-message';

const MAX_DEPTH = 4;
const DELIVERY_STATUS = ['message/delivery-status', 'message/global-delivery-status'];
const ORIGINAL = ['message/rfc822', 'message/global', 'text/rfc822-headers', 'message/global-headers'];
const ADDRESS = /^[^\s@<>]+@[^\s@<>]+$/;

/** The multipart/report entity of a report type we read, at the top or inside multipart wrappers. */
function findReport(entity: MimeEntity, what: string, depth = 0): MimeEntity | undefined {
  const { type, params } = contentTypeOf(entity);
  if (type === 'multipart/report') {
    const reportType = params['report-type']?.toLowerCase();
    return reportType === 'delivery-status' || reportType === 'feedback-report' ? entity : undefined;
  }
  if (!type.startsWith('multipart/') || depth >= MAX_DEPTH) return undefined;
  for (const part of partsOf(entity, what)) {
    const found = findReport(part, `a part of ${what}`, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** Field groups separated by blank lines (RFC 3464 §2.1: per-message, then per-recipient). */
function fieldGroups(part: MimeEntity, what: string): HeaderField[][] {
  const text = decodedBody(part, what).toString('utf8').replace(/\r\n/g, '\n');
  return text
    .split(/\n[ \t]*\n/)
    .map((group) => group.split('\n').filter((line) => line.trim() !== ''))
    .filter((lines) => lines.length > 0)
    .map((lines) => parseFields(lines, what));
}

const field = (group: HeaderField[], name: string) => group.find((f) => f.name === name)?.value;

/** `rfc822; jane@example.org` → `jane@example.org`. */
function addressOf(value: string, what: string): string {
  const address = value
    .slice(value.indexOf(';') + 1)
    .trim()
    .replace(/^<|>$/g, '');
  if (!ADDRESS.test(address))
    throw new MalformedMessage(`${what} ${JSON.stringify(value)} is not an address`);
  return address;
}

/** The returned original's headers, for the ref; a garbled original costs the ref, not the report. */
function originalOf(parts: MimeEntity[]): MimeEntity | undefined {
  const part = parts.find((p) => ORIGINAL.includes(contentTypeOf(p).type));
  if (!part) return undefined;
  try {
    return parseEntity(decodedBody(part, 'the returned message').toString('latin1'), 'the returned message');
  } catch {
    return undefined;
  }
}

function refOf(original: MimeEntity | undefined, envelopeRecipient: string): MessageRef {
  return definedOnly({
    smtpMessageId: original ? headerOf(original, 'message-id') : undefined,
    verpAddress: envelopeRecipient,
    cmisMessageId: original ? cmisMessageIdOf(headerOf(original, 'x-cmis-message-id')) : undefined,
  });
}

function deliveryReports(parts: MimeEntity[], ref: MessageRef): DeliveryReport[] {
  const status = parts.find((p) => DELIVERY_STATUS.includes(contentTypeOf(p).type));
  if (!status) throw new MalformedMessage('a delivery-status report without a message/delivery-status part');
  const recipients = fieldGroups(status, 'the delivery-status part').filter(
    (group) => field(group, 'final-recipient') !== undefined || field(group, 'action') !== undefined,
  );
  if (recipients.length === 0)
    throw new MalformedMessage('the delivery-status part has no per-recipient fields');

  return recipients.flatMap((group): DeliveryReport[] => {
    const finalRecipient = field(group, 'final-recipient');
    const action = field(group, 'action')?.toLowerCase();
    if (!finalRecipient || !action)
      throw new MalformedMessage('a per-recipient block lacks Final-Recipient or Action (RFC 3464 §2.3)');
    const address = addressOf(finalRecipient, 'Final-Recipient');
    const diagnostic = field(group, 'diagnostic-code');
    switch (action) {
      case 'failed': {
        const smtpCode = smtpReplyCode(diagnostic);
        const statusCode = field(group, 'status');
        return [
          {
            type: 'bounce',
            bounceType: isPermanentFailure(statusCode, smtpCode) ? 'hard' : 'soft',
            address,
            reason: diagnostic ? diagnosticText(diagnostic) : `failed, status ${statusCode ?? 'unknown'}`,
            ...(smtpCode !== undefined ? { smtpCode } : {}),
            ref,
            source: 'dsn',
          },
        ];
      }
      case 'delayed':
        // The reporting MTA is still trying, and sends "failed" if it gives up: a delay is not an
        // outcome, and counting it as a soft bounce would suppress addresses that are only slow.
        return [];
      case 'delivered':
      case 'relayed':
      case 'expanded': {
        const detail = diagnostic ? diagnosticText(diagnostic) : action === 'delivered' ? undefined : action;
        return [{ type: 'delivered', address, ref, source: 'dsn', ...(detail ? { detail } : {}) }];
      }
      default:
        throw new MalformedMessage(`unknown Action ${action} (RFC 3464 §2.3.3)`);
    }
  });
}

/** Feedback types that are not a recipient complaining (RFC 5965 §7.3, RFC 6591). */
const NOT_COMPLAINTS = ['not-spam', 'auth-failure'];

function complaintReports(
  parts: MimeEntity[],
  original: MimeEntity | undefined,
  ref: MessageRef,
): DeliveryReport[] {
  const feedback = parts.find((p) => contentTypeOf(p).type === 'message/feedback-report');
  if (!feedback) throw new MalformedMessage('a feedback report without a message/feedback-report part');
  const fields = fieldGroups(feedback, 'the feedback-report part').flat();
  const feedbackType = field(fields, 'feedback-type');
  if (!feedbackType) throw new MalformedMessage('the feedback report has no Feedback-Type (RFC 5965 §3.1)');
  if (NOT_COMPLAINTS.includes(feedbackType.toLowerCase())) return [];
  // Many feedback loops redact Original-Rcpt-To; the returned message's To then names the one
  // who complained, when it names exactly one.
  let addresses = fields
    .filter((f) => f.name === 'original-rcpt-to')
    .map((f) => addressOf(f.value, 'Original-Rcpt-To'));
  if (addresses.length === 0) {
    const to = original ? (headerOf(original, 'to')?.match(/[^\s<>",;:]+@[^\s<>",;]+/g) ?? []) : [];
    if (to.length !== 1)
      throw new MalformedMessage('the feedback report names no recipient (Original-Rcpt-To or To)');
    addresses = to;
  }
  return addresses.map((address) => ({ type: 'complaint', address, feedbackType, ref, source: 'dsn' }));
}

function parseReport(raw: Buffer, envelopeRecipient: string): DeliveryReport[] {
  if (raw.length === 0) throw new MalformedMessage('the message is empty');
  const message = parseEntity(raw.toString('latin1'), 'the message');
  if (message.headers.length === 0) throw new MalformedMessage('the message has no header');
  const report = findReport(message, 'the message');
  if (!report) return [];
  const parts = partsOf(report, 'the report');
  const original = originalOf(parts);
  const ref = refOf(original, envelopeRecipient);
  return contentTypeOf(report).params['report-type']!.toLowerCase() === 'delivery-status'
    ? deliveryReports(parts, ref)
    : complaintReports(parts, original, ref);
}

/** The reports in a mail received at `envelopeRecipient`; [] when it is not a report. */
export async function parseInboundReport(raw: Buffer, envelopeRecipient: string): Promise<DeliveryReport[]> {
  try {
    return parseReport(raw, envelopeRecipient);
  } catch (error) {
    if (error instanceof MalformedMessage) throw error;
    // Whatever else the input provokes is still the input's fault, and the receiver must be
    // able to tell it from its own failures.
    throw new MalformedMessage(
      `unreadable message: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
      },
    );
  }
}
