// Pure: Standard Webhooks verification (https://www.standardwebhooks.com): HMAC-SHA256 over
// `${id}.${timestamp}.${body}`, keyed with the base64 secret after `whsec_`, sent as a
// space-separated list of `v1,<base64 signature>`; any live secret may match (rotation).
import { createHmac, timingSafeEqual } from 'node:crypto';

export const TOLERANCE_SECONDS = 5 * 60;

export type VerifyFailure = {
  ok: false;
  header: 'webhook-id' | 'webhook-timestamp' | 'webhook-signature';
  reason: string;
};
export type VerifyResult = { ok: true; id: string; timestamp: Date } | VerifyFailure;

export interface WebhookHeaders {
  'webhook-id'?: string;
  'webhook-timestamp'?: string;
  'webhook-signature'?: string;
}

export function signatureOf(
  secret: string,
  id: string,
  timestampSeconds: number | string,
  body: string,
): string {
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
  return createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64');
}

/** Verifies headers and body against the live secrets at `now`; says which header is at fault. */
export function verifyWebhook(
  headers: WebhookHeaders,
  body: string,
  secrets: readonly string[],
  now: Date,
): VerifyResult {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (!id || id.length > 256) return fail('webhook-id', 'is required (at most 256 characters)');
  if (!timestamp) return fail('webhook-timestamp', 'is required');
  if (!/^\d{1,12}$/.test(timestamp))
    return fail('webhook-timestamp', 'must be whole seconds since the epoch');
  const seconds = Number(timestamp);
  const skew = Math.abs(now.getTime() / 1000 - seconds);
  if (skew > TOLERANCE_SECONDS) {
    return fail(
      'webhook-timestamp',
      `is more than ${TOLERANCE_SECONDS} seconds from now (stale or from the future)`,
    );
  }
  if (!signatures) return fail('webhook-signature', 'is required');
  const offered = signatures
    .split(' ')
    .map((entry) => entry.split(','))
    .filter((parts) => parts.length === 2 && parts[0] === 'v1')
    .map((parts) => Buffer.from(parts[1]!, 'base64'));
  if (offered.length === 0) return fail('webhook-signature', 'holds no v1 signature');
  for (const secret of secrets) {
    const expected = Buffer.from(signatureOf(secret, id, timestamp, body), 'base64');
    // Compare every offered signature: the loop does not stop early on the secret side either.
    if (offered.some((sig) => sig.length === expected.length && timingSafeEqual(sig, expected))) {
      return { ok: true, id, timestamp: new Date(seconds * 1000) };
    }
  }
  return fail('webhook-signature', 'does not match the payload with any live secret of the source');
}

function fail(header: VerifyFailure['header'], reason: string): VerifyFailure {
  return { ok: false, header, reason };
}
