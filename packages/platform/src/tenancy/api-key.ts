import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * API keys look like `cmis_<keyId>_<secret>`: the key id is public (lists, revocation), the
 * secret is 32 random bytes. Services only ever hold the sha256 of the whole key.
 */
export interface IssuedKey {
  keyId: string;
  key: string;
  hash: string;
  prefix: string;
}

const KEY_PATTERN = /^cmis_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** Pure: the random bytes come in (24: 8 for the id, 32 would be more, 16 of secret min). */
export function apiKeyFrom(idBytes: Buffer, secretBytes: Buffer): IssuedKey {
  if (idBytes.length !== 8 || secretBytes.length !== 32)
    throw new Error('need 8 id bytes and 32 secret bytes');
  const keyId = idBytes.toString('hex');
  const key = `cmis_${keyId}_${secretBytes.toString('base64url')}`;
  return { keyId, key, hash: hashApiKey(key), prefix: key.slice(0, 13) };
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** The key id of a well-formed key, or undefined (then it is not worth a lookup). */
export function keyIdOf(key: string): string | undefined {
  return KEY_PATTERN.exec(key)?.[1];
}

export function sameSecret(a: string, b: string): boolean {
  const [x, y] = [Buffer.from(a), Buffer.from(b)];
  return x.length === y.length && timingSafeEqual(x, y);
}

/** `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
export function apiKeyFromHeaders(
  headers: Record<string, string | string[] | undefined>,
): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string') {
    const match = /^Bearer\s+(\S+)$/i.exec(auth.trim());
    if (match) return match[1];
  }
  const header = headers['x-api-key'];
  return typeof header === 'string' ? header.trim() : undefined;
}
