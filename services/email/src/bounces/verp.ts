// VERP return paths: each message goes out with its own envelope sender, so the bounce that comes
// back to it names the org and the message without trusting anything inside the bounce.
//
// Layout of the local part: `<localPart>+<org><message><mac>`, all base36 (a-z0-9, so an MTA
// that changes the case changes nothing):
//   org      25 chars, the org's uuid as a 128-bit number (36^25 > 2^128);
//   message  25 chars when the id is 32 hex digits (the lead's ids, 128 bits), else '-' and the
//            id as it is (already base36);
//   mac      6 chars, 31 bits of HMAC-SHA256 over org and message (36^6 > 2^31).
// With 'bounces' and a 32-hex id that is exactly 64 characters, RFC 5321's limit. Every id of
// [a-z0-9]{1,40} cannot fit: a 40-char id alone is 207 bits, with the org's 128 and a MAC that is
// more than the 56 base36 characters left. Ids that are not 32 hex fit up to 24 characters (with
// 'bounces'); longer ones throw VerpAddressError rather than go out with an address MTAs may refuse.
// 31 bits of MAC: a forger needs ~2^30 bounces through SMTP per hit (BATV and SRS use 24).
import { createHmac } from 'node:crypto';
import { equalsConstantTime } from './constant-time';

const ORG_CHARS = 25;
const PACKED_MESSAGE_CHARS = 25;
const MAC_CHARS = 6;
const MAX_LOCAL_PART = 64;
const HEX32 = /^[0-9a-f]{32}$/;
const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/;
const BASE36 = /^[0-9a-z]+$/;
const LIMIT_128 = 1n << 128n;

/** No valid VERP address can be made from these inputs (over 64 characters, or ids out of range). */
export class VerpAddressError extends Error {
  override readonly name = 'VerpAddressError';
}

const toBase36 = (value: bigint, width: number) => value.toString(36).padStart(width, '0');

function fromBase36(text: string): bigint | undefined {
  if (!BASE36.test(text)) return undefined;
  let value = 0n;
  for (const char of text) value = value * 36n + BigInt(parseInt(char, 36));
  return value;
}

const hexOf = (value: bigint) => value.toString(16).padStart(32, '0');
const dashed = (hex: string) =>
  `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;

function macOf(secret: string, orgHex: string, messageId: string): string {
  const digest = createHmac('sha256', secret).update(`cmis-verp\n${orgHex}\n${messageId}`).digest();
  return toBase36(BigInt(digest.readUInt32BE(0) >>> 1), MAC_CHARS);
}

export function verpAddress(opts: {
  localPart: string;
  domain: string;
  orgId: string;
  messageId: string;
  secret: string;
}): string {
  const orgId = opts.orgId.toLowerCase();
  const messageId = opts.messageId.toLowerCase();
  if (!UUID.test(orgId)) throw new VerpAddressError(`org id ${opts.orgId} is not a uuid`);
  if (!/^[a-z0-9]{1,40}$/.test(messageId))
    throw new VerpAddressError(`message id ${opts.messageId} is not [a-z0-9]{1,40}`);
  const orgHex = orgId.replace(/-/g, '');
  const message = HEX32.test(messageId)
    ? toBase36(BigInt(`0x${messageId}`), PACKED_MESSAGE_CHARS)
    : `-${messageId}`;
  const local = `${opts.localPart}+${toBase36(BigInt(`0x${orgHex}`), ORG_CHARS)}${message}${macOf(opts.secret, orgHex, messageId)}`;
  if (local.length > MAX_LOCAL_PART)
    throw new VerpAddressError(
      `VERP local part ${local} is ${local.length} characters, over ${MAX_LOCAL_PART}`,
    );
  return `${local}@${opts.domain}`;
}

/** The org and message a VERP address names, if one of the secrets signed it; else undefined. */
export function parseVerp(
  address: string,
  secrets: string | readonly string[],
): { orgId: string; messageId: string } | undefined {
  const lower = address.trim().toLowerCase();
  const at = lower.lastIndexOf('@');
  const local = at >= 0 ? lower.slice(0, at) : lower;
  const plus = local.indexOf('+');
  if (plus < 0) return undefined;
  const payload = local.slice(plus + 1);
  if (payload.length < ORG_CHARS + 2 + MAC_CHARS) return undefined;

  const org = fromBase36(payload.slice(0, ORG_CHARS));
  const messagePart = payload.slice(ORG_CHARS, -MAC_CHARS);
  const mac = payload.slice(-MAC_CHARS);
  if (org === undefined || org >= LIMIT_128 || !BASE36.test(mac)) return undefined;
  let messageId: string;
  if (messagePart.startsWith('-')) {
    messageId = messagePart.slice(1);
    if (!/^[a-z0-9]{1,40}$/.test(messageId)) return undefined;
  } else {
    const packed = messagePart.length === PACKED_MESSAGE_CHARS ? fromBase36(messagePart) : undefined;
    if (packed === undefined || packed >= LIMIT_128) return undefined;
    messageId = hexOf(packed);
  }

  const orgHex = hexOf(org);
  // Every secret is tried (no early exit), so the time taken says nothing about which matched.
  let valid = false;
  for (const secret of typeof secrets === 'string' ? [secrets] : secrets)
    valid = equalsConstantTime(macOf(secret, orgHex, messageId), mac) || valid;
  return valid ? { orgId: dashed(orgHex), messageId } : undefined;
}
