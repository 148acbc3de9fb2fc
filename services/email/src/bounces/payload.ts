// Reading providers' JSON, which arrives as `unknown`: small accessors that never throw, so each
// parser states what it requires and fails with a 400 of its own words.

export type JsonObject = Record<string, unknown>;

export function objectOf(value: unknown): JsonObject | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as JsonObject)
    : undefined;
}

/** A non-empty string, else undefined (providers send null and '' for "absent"). */
export function textOf(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** Our message id when a provider echoes it back; anything else is ignored, not trusted. */
export function cmisMessageIdOf(value: unknown): string | undefined {
  const text = textOf(value)?.toLowerCase();
  return text && /^[a-z0-9]{1,40}$/.test(text) ? text : undefined;
}

/** `{ a: undefined }` and `{}` are different to toEqual and to exactOptional readers: drop the former. */
export function definedOnly<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
