// Signed tokens of the links in an email (open pixel, tracked links, unsubscribe, preferences).
// Layout, base64url of 52 bytes (70 characters):
//   version (1) · purpose (1) · org id (16, the uuid's bytes) · message id (16) · link index
//   (uint16 BE, 0xffff for none) · HMAC-SHA256 (first 16 bytes)
// The MAC covers everything before it and a context string, so a MAC the same secret makes for
// another use (VERP return paths) never verifies here. 128 bits keep URLs short and still leave
// forging out of reach (2^-128 a guess; truncated HMAC is sound, RFC 2104 §5). Nothing in a URL
// can be guessed or changed: a token verifies only exactly as it was signed.
import { createHmac, timingSafeEqual } from 'node:crypto';

export type TrackingPurpose = 'open' | 'click' | 'unsubscribe' | 'preferences';

export interface TrackingClaim {
  purpose: TrackingPurpose;
  /** A uuid. */
  orgId: string;
  /** 32 hex digits (a message id from `messageIdOf`). */
  messageId: string;
  /** 0 to 65534. */
  linkIndex?: number;
}

/** A claim that cannot be put in a token (not a uuid org, not a 32-hex message id, index out of range). */
export class TrackingClaimError extends Error {
  override readonly name = 'TrackingClaimError';
}

const VERSION = 1;
const CONTEXT = Buffer.from('cmis-email-tracking\u0000');
const PURPOSES: readonly TrackingPurpose[] = ['open', 'click', 'unsubscribe', 'preferences'];
const NO_LINK = 0xffff;
const BODY = 1 + 1 + 16 + 16 + 2;
const MAC = 16;
const TOKEN_CHARS = Math.ceil(((BODY + MAC) * 8) / 6);
const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const MESSAGE_ID = /^[0-9a-f]{32}$/i;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

const mac = (secret: string, body: Buffer) =>
  createHmac('sha256', secret).update(CONTEXT).update(body).digest().subarray(0, MAC);

export function signTrackingToken(secret: string, claim: TrackingClaim): string {
  if (!UUID.test(claim.orgId)) throw new TrackingClaimError(`not a uuid org id: ${claim.orgId}`);
  if (!MESSAGE_ID.test(claim.messageId))
    throw new TrackingClaimError(`not a 32-hex message id: ${claim.messageId}`);
  const purpose = PURPOSES.indexOf(claim.purpose);
  if (purpose < 0) throw new TrackingClaimError(`unknown purpose: ${String(claim.purpose)}`);
  const index = claim.linkIndex ?? NO_LINK;
  if (claim.linkIndex !== undefined && !(Number.isInteger(index) && index >= 0 && index < NO_LINK))
    throw new TrackingClaimError(`link index out of range: ${claim.linkIndex}`);
  const body = Buffer.alloc(BODY);
  body[0] = VERSION;
  body[1] = purpose;
  Buffer.from(claim.orgId.replace(/-/g, ''), 'hex').copy(body, 2);
  Buffer.from(claim.messageId, 'hex').copy(body, 18);
  body.writeUInt16BE(index, 34);
  return Buffer.concat([body, mac(secret, body)]).toString('base64url');
}

/**
 * The claim of a token signed with one of `secrets` (key rotation: sign with the first, verify
 * with all), else undefined: for anything malformed, altered or of the wrong length. Never throws.
 * The org and message ids come back in lower case.
 */
export function verifyTrackingToken(
  secrets: string | readonly string[],
  token: string,
): TrackingClaim | undefined {
  if (typeof token !== 'string' || token.length !== TOKEN_CHARS || !BASE64URL.test(token)) return undefined;
  const bytes = Buffer.from(token, 'base64url');
  // The last character carries spare bits: only the canonical spelling of the bytes is accepted.
  if (bytes.length !== BODY + MAC || bytes.toString('base64url') !== token) return undefined;
  const body = bytes.subarray(0, BODY);
  const given = bytes.subarray(BODY);
  const keys = typeof secrets === 'string' ? [secrets] : Array.isArray(secrets) ? secrets : [];
  const signed = keys.some(
    (secret) => typeof secret === 'string' && timingSafeEqual(mac(secret, body), given),
  );
  if (!signed || body[0] !== VERSION) return undefined;
  const purpose = PURPOSES[body[1]!];
  if (!purpose) return undefined;
  const org = body.subarray(2, 18).toString('hex');
  const index = body.readUInt16BE(34);
  return {
    purpose,
    orgId: `${org.slice(0, 8)}-${org.slice(8, 12)}-${org.slice(12, 16)}-${org.slice(16, 20)}-${org.slice(20)}`,
    messageId: body.subarray(18, 34).toString('hex'),
    ...(index !== NO_LINK ? { linkIndex: index } : {}),
  };
}
