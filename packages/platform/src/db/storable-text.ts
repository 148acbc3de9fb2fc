/**
 * Text Postgres cannot keep: U+0000 (refused by text and jsonb alike, SQLSTATE 22P05/22021) and
 * a lone UTF-16 surrogate (jsonb refuses its \u escape; a text column would silently get U+FFFD
 * in its place). One regex per string, without the `u` flag, so it sees UTF-16 code units.
 */
// eslint-disable-next-line no-control-regex -- U+0000 is exactly what it looks for
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export function isStorableText(text: string): boolean {
  return !UNSTORABLE.test(text);
}

/**
 * The path of the first string (value or object key) in `value` that Postgres cannot store,
 * written as field errors name fields (`body.batch.3.properties.name`), or null when there is none.
 */
export function findUnstorableText(value: unknown, path = '$'): string | null {
  if (typeof value === 'string') return UNSTORABLE.test(value) ? path : null;
  if (typeof value !== 'object' || value === null) return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i += 1) {
      const found = findUnstorableText(value[i], `${path}.${i}`);
      if (found !== null) return found;
    }
    return null;
  }
  // for-in over a JSON-shaped object: own enumerable keys (JSON.parse makes no inherited ones).
  for (const key in value) {
    const keyPath = `${path}.${key}`;
    if (UNSTORABLE.test(key)) return keyPath;
    const found = findUnstorableText((value as Record<string, unknown>)[key], keyPath);
    if (found !== null) return found;
  }
  return null;
}
