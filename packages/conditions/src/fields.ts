// What a condition may read: a dotted field whose root names a part of the evaluation context
// (compile.ts reads it), typed by a table the caller supplies: its trigger's or its step's fields.

export type FieldType = 'number' | 'string' | 'any';

/** The parts of an evaluation context a field starts with (`steps.<stepId>.*`: earlier steps' data). */
export const FIELD_ROOTS = ['event', 'contact', 'metrics', 'entity', 'steps'] as const;
export type FieldRoot = (typeof FIELD_ROOTS)[number];

/** The type of a field, or why it cannot be read. */
export type FieldTyping = { type: FieldType } | { error: string };

/**
 * What lies under a name: a value of this type (`any` is untyped, and so is everything below it),
 * an object of these named fields, or an object keyed by any name (`metrics.<name>`, `steps.<stepId>`).
 */
export type FieldShape = FieldType | { fields: Readonly<Record<string, FieldShape>> } | { each: FieldShape };

/** The fields of one scope by root; a root left out is not readable there. */
export type FieldTable = Readonly<Partial<Record<FieldRoot, FieldShape>>>;

const SEGMENT = /^[A-Za-z0-9_$-]{1,100}$/;
export const MAX_FIELD_DEPTH = 8;

/** Why `field` is not a dotted path of names the language reads, or undefined when it is one. */
export function checkFieldPath(field: string): string | undefined {
  const segments = field.split('.');
  if (segments.length > MAX_FIELD_DEPTH) return `field ${field} is nested deeper than ${MAX_FIELD_DEPTH}`;
  if (segments.some((s) => !SEGMENT.test(s))) return `field ${field} is not a dotted path of names`;
  return undefined;
}

const has = (record: object, key: string) => Object.prototype.hasOwnProperty.call(record, key);

/**
 * The type of `field` in `table`: an error when the path is malformed, undefined when the table
 * has no such field (the caller says what its scope reads instead). A root alone is not a field,
 * nor is a path that ends on an object of named fields.
 */
export function lookupField(field: string, table: FieldTable): FieldTyping | undefined {
  const malformed = checkFieldPath(field);
  if (malformed !== undefined) return { error: malformed };
  const [root, ...path] = field.split('.');
  if (path.length === 0 || !has(table, root!)) return undefined;
  let shape: FieldShape | undefined = table[root as FieldRoot];
  for (const name of path) {
    if (shape === undefined || shape === 'string' || shape === 'number') return undefined;
    if (shape === 'any') return { type: 'any' };
    if ('each' in shape) shape = shape.each;
    else shape = has(shape.fields, name) ? shape.fields[name] : undefined;
  }
  return typeof shape === 'string' ? { type: shape } : undefined;
}
