import { createHash, randomBytes } from 'node:crypto';
import { randomId } from '../shared/ids';
import type { WebhookSecretIssue, WriteKeyIssue } from './source';

export const hashWriteKey = (writeKey: string): string => createHash('sha256').update(writeKey).digest('hex');

/** A new write key: the clear key goes to the caller once; events and tables keep its hash. */
export function newWriteKey(): { writeKey: string; issue: WriteKeyIssue } {
  const writeKey = `wk_${randomBytes(24).toString('base64url')}`;
  return {
    writeKey,
    issue: { keyId: randomId('wkey', 9), hash: hashWriteKey(writeKey), prefix: writeKey.slice(0, 9) },
  };
}

/** A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes. */
export function newWebhookSecret(): WebhookSecretIssue {
  return { secretId: randomId('whs', 9), secret: `whsec_${randomBytes(32).toString('base64')}` };
}
