// Signed tokens of the links in an email (open pixel, tracked links, unsubscribe, preferences):
// version, purpose, org, message and link index, then an HMAC-SHA256 of all of it, base64url.
// Nothing in a URL can be guessed or changed: a token verifies only as it was signed. The MAC is
// cut to 128 bits, which keeps URLs short and still leaves forging out of reach.
import { createHmac, timingSafeEqual } from 'node:crypto';

export type TrackingPurpose = 'open' | 'click' | 'unsubscribe' | 'preferences';

export interface TrackingClaim {
  purpose: TrackingPurpose;
  orgId: string;
  /** 32 hex digits (the message id). */
  messageId: string;
  linkIndex?: number;
}

const VERSION = 1;
const PURPOSES: readonly TrackingPurpose[] = ['open', 'click', 'unsubscribe', 'preferences'];
const NO_LINK = 0xffff;
const BODY = 1 + 1 + 16 + 16 + 2;
const MAC = 16;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MESSAGE_ID = /^[0-9a-f]{32}$/;

const mac = (secret: string, body: Buffer) =>
  createHmac('sha256', secret).update(body).digest().subarray(0, MAC);

export function signTrackingToken(secret: string, claim: TrackingClaim): string {
  if (!UUID.test(claim.orgId)) throw new Error('tracking tokens need a uuid org id');
  if (!MESSAGE_ID.test(claim.messageId)) throw new Error('tracking tokens need a 32-hex message id');
  const index = claim.linkIndex ?? NO_LINK;
  if (!Number.isInteger(index) || index < 0 || index > NO_LINK) throw new Error('link index out of range');
  const body = Buffer.alloc(BODY);
  body[0] = VERSION;
  body[1] = PURPOSES.indexOf(claim.purpose);
  Buffer.from(claim.orgId.replace(/-/g, ''), 'hex').copy(body, 2);
  Buffer.from(claim.messageId, 'hex').copy(body, 18);
  body.writeUInt16BE(index, 34);
  return Buffer.concat([body, mac(secret, body)]).toString('base64url');
}

/** The claim of a token signed with one of `secrets` (rotation: any verifies), else undefined. */
export function verifyTrackingToken(
  secrets: string | readonly string[],
  token: string,
): TrackingClaim | undefined {
  if (typeof token !== 'string' || token.length > 200 || !/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  const bytes = Buffer.from(token, 'base64url');
  if (bytes.length !== BODY + MAC || bytes.toString('base64url') !== token) return undefined;
  const body = bytes.subarray(0, BODY);
  const given = bytes.subarray(BODY);
  const ok = (typeof secrets === 'string' ? [secrets] : secrets).some((s) =>
    timingSafeEqual(mac(s, body), given),
  );
  if (!ok || body[0] !== VERSION) return undefined;
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
