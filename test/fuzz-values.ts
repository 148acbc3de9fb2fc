// Values for the fuzz run: a sampler that follows a JSON Schema (so most requests get past
// validation and run the handlers), and mutations that break it in the ways clients do.
import type { SeededRng as Rng } from './support/seeded-rng';

export type JsonSchema = {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  pattern?: string;
  format?: string;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  default?: unknown;
};

export interface SampleContext {
  rng: Rng;
  /** Resolves `#/components/schemas/<name>` in the operation's document. */
  resolve(ref: string): JsonSchema | undefined;
  /** Ids the run has seen in answers, by property name (`ruleId`, `templateId`), to reuse. */
  knownIds(name: string): string[];
}

const EVIL_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff lone',
  '😀👍🏽 zalgo z̷̢̛a̵l̶g̸o',
  '\u202e\u200b\ufeff',
  "'; drop table x; --",
  '{{ constructor.constructor("return process")() }}',
  '<script>alert(1)</script>',
  '../../etc/passwd',
  '%00%ff',
  '__proto__',
  'null',
  '-1',
  '1e309',
  '9'.repeat(40),
  'x'.repeat(10_000),
  'ü'.repeat(3_000),
];

const EVIL_NUMBERS = [
  -1,
  0,
  -0.5,
  1.5,
  2 ** 31,
  2 ** 53 + 1,
  -(2 ** 63),
  1e308,
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
];

export const evilString = (rng: Rng): string => rng.pick(EVIL_STRINGS);
export const evilNumber = (rng: Rng): number => rng.pick(EVIL_NUMBERS);

/** A value of any JSON type, for "wrong type" mutations. */
export function anyValue(rng: Rng, depth = 0): unknown {
  switch (rng.int(0, depth > 1 ? 4 : 6)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return evilNumber(rng);
    case 3:
      return evilString(rng);
    case 4:
      return rng.int(-5, 5);
    case 5:
      return [anyValue(rng, depth + 1), anyValue(rng, depth + 1)];
    default:
      return { [rng.pick(['a', 'id', '__proto__', 'constructor', 'orgId'])]: anyValue(rng, depth + 1) };
  }
}

/** A string matching the simple regexes the documents use (classes, groups, alternation, counts). */
export function sampleRegex(pattern: string, rng: Rng): string {
  let i = 0;
  const classChars = (body: string): string[] => {
    const chars: string[] = [];
    for (let j = 0; j < body.length; j += 1) {
      const c = body[j]!;
      if (c === '\\') {
        const e = body[++j]!;
        if (e === 'd') chars.push(...'0123456789');
        else if (e === 'w') chars.push(...'abcxyzABC019_');
        else chars.push(e);
        continue;
      }
      if (body[j + 1] === '-' && j + 2 < body.length) {
        const end = body[j + 2]!;
        for (let k = c.charCodeAt(0); k <= end.charCodeAt(0); k += 1) chars.push(String.fromCharCode(k));
        j += 2;
        continue;
      }
      chars.push(c);
    }
    return chars;
  };
  const parseAlternatives = (): string[][] => {
    const alternatives: string[][] = [[]];
    while (i < pattern.length) {
      const c = pattern[i]!;
      if (c === ')') return alternatives;
      if (c === '|') {
        alternatives.push([]);
        i += 1;
        continue;
      }
      const atom = parseAtom();
      const [min, max] = parseCount();
      const n = rng.int(min, Math.min(max, min + 8));
      const current = alternatives[alternatives.length - 1]!;
      for (let k = 0; k < n; k += 1) current.push(atom());
    }
    return alternatives;
  };
  const parseAtom = (): (() => string) => {
    const c = pattern[i]!;
    if (c === '^' || c === '$') {
      i += 1;
      return () => '';
    }
    if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      const chars = classChars(pattern.slice(i + 1, end));
      i = end + 1;
      return () => rng.pick(chars);
    }
    if (c === '(') {
      i += 1;
      if (pattern.startsWith('?:', i)) i += 2;
      const alternatives = parseAlternatives();
      i += 1;
      return () => rng.pick(alternatives).join('');
    }
    if (c === '\\') {
      const e = pattern[i + 1]!;
      i += 2;
      if (e === 'd') return () => String(rng.int(0, 9));
      if (e === 'w') return () => rng.pick([...'abcXYZ09_']);
      return () => e;
    }
    if (c === '.') {
      i += 1;
      return () => rng.pick([...'abc.-_']);
    }
    i += 1;
    return () => c;
  };
  const parseCount = (): [number, number] => {
    const c = pattern[i];
    if (c === '?') return ((i += 1), [0, 1]);
    if (c === '*') return ((i += 1), [0, 4]);
    if (c === '+') return ((i += 1), [1, 4]);
    if (c === '{') {
      const end = pattern.indexOf('}', i);
      const [a, b] = pattern.slice(i + 1, end).split(',');
      i = end + 1;
      const min = Number(a);
      return [min, b === undefined ? min : b === '' ? min + 4 : Number(b)];
    }
    return [1, 1];
  };
  const alternatives = parseAlternatives();
  return rng.pick(alternatives).join('');
}

function sampleString(schema: JsonSchema, ctx: SampleContext, name: string): string {
  const { rng } = ctx;
  if (schema.pattern) return sampleRegex(schema.pattern, rng);
  switch (schema.format) {
    case 'date-time':
      return new Date(Date.now() + rng.int(-30, 0) * 86_400_000).toISOString();
    case 'email':
      return `fuzz-${rng.hex(6)}@example.com`;
    case 'uuid':
      return rng.uuid();
    case 'uri':
    case 'url':
      return `https://example.com/${rng.hex(6)}`;
    default:
      break;
  }
  const known = ctx.knownIds(name);
  if (known.length > 0 && rng.chance(0.6)) return rng.pick(known);
  if (/email|address|^to$/i.test(name)) return `fuzz-${rng.hex(6)}@example.com`;
  if (/url$/i.test(name)) return `https://example.com/${rng.hex(6)}`;
  if (/time$|At$|^from$|^since$|^until$/.test(name))
    return new Date(Date.now() - rng.int(0, 30) * 86_400_000).toISOString();
  const min = schema.minLength ?? 1;
  const max = Math.min(schema.maxLength ?? 24, min + 24);
  let text = `${name.replace(/[^a-z]/gi, '').slice(0, 8) || 'v'}-${rng.hex(8)}`;
  while (text.length < min) text += rng.hex(8);
  return text.slice(0, Math.max(min, Math.min(max, text.length)));
}

function sampleNumber(schema: JsonSchema, rng: Rng, integer: boolean): number {
  const low = schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : 0);
  const high =
    schema.maximum ?? (schema.exclusiveMaximum !== undefined ? schema.exclusiveMaximum - 1 : low + 100);
  const value = low + rng.next() * (Math.min(high, low + 1000) - low);
  return integer ? Math.round(value) : Math.round(value * 100) / 100;
}

/** A value the schema accepts, as far as this sampler understands it. */
export function sample(
  schema: JsonSchema | undefined,
  ctx: SampleContext,
  name = 'value',
  depth = 0,
): unknown {
  const { rng } = ctx;
  if (!schema || depth > 12) return rng.hex(6);
  if (schema.$ref) return sample(ctx.resolve(schema.$ref), ctx, name, depth + 1);
  if (schema.const !== undefined) return schema.const;
  if (schema.enum) return rng.pick(schema.enum);
  if (schema.allOf) {
    const parts = schema.allOf.map((s) => sample(s, ctx, name, depth + 1));
    return parts.every((p) => typeof p === 'object' && p !== null && !Array.isArray(p))
      ? Object.assign({}, ...parts)
      : parts[0];
  }
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives && alternatives.length > 0) return sample(rng.pick(alternatives), ctx, name, depth + 1);
  const type = Array.isArray(schema.type)
    ? rng.pick(
        schema.type.filter((t) => t !== 'null').length ? schema.type.filter((t) => t !== 'null') : ['null'],
      )
    : (schema.type ?? (schema.properties ? 'object' : undefined));
  switch (type) {
    case 'string':
      return sampleString(schema, ctx, name);
    case 'integer':
      return sampleNumber(schema, rng, true);
    case 'number':
      return sampleNumber(schema, rng, false);
    case 'boolean':
      return rng.chance(0.5);
    case 'null':
      return null;
    case 'array': {
      const min = schema.minItems ?? 0;
      const n = rng.int(min, Math.max(min, Math.min(schema.maxItems ?? 3, min + 3)));
      return Array.from({ length: n }, () => sample(schema.items, ctx, name.replace(/s$/, ''), depth + 1));
    }
    case 'object': {
      const out: Record<string, unknown> = {};
      const required = new Set(schema.required ?? []);
      for (const [key, child] of Object.entries(schema.properties ?? {})) {
        if (required.has(key) || rng.chance(depth > 3 ? 0.3 : 0.6))
          out[key] = sample(child, ctx, key, depth + 1);
      }
      if (!schema.properties && schema.additionalProperties !== false && rng.chance(0.5)) {
        out[`k${rng.hex(3)}`] =
          typeof schema.additionalProperties === 'object'
            ? sample(schema.additionalProperties, ctx, 'value', depth + 1)
            : rng.pick(['text', 42, true]);
      }
      return out;
    }
    default:
      return rng.pick(['text', 7, true, { a: 1 }]);
  }
}

/** Breaks `value` in one place: a wrong type, a missing or extra field, an evil string or number. */
export function mutate(value: unknown, rng: Rng, depth = 0): unknown {
  const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
  if (Array.isArray(value) && value.length > 0 && rng.chance(0.7)) {
    const copy = [...value];
    const i = rng.int(0, copy.length - 1);
    copy[i] = mutate(copy[i], rng, depth + 1);
    return copy;
  }
  if (Array.isArray(value) && rng.chance(0.3))
    return Array.from({ length: rng.pick([0, 500, 20_000]) }, () => 1);
  if (isObject) {
    const copy = { ...(value as Record<string, unknown>) };
    const keys = Object.keys(copy);
    const roll = rng.int(0, 9);
    if (keys.length > 0 && roll < 5) {
      const key = rng.pick(keys);
      copy[key] = mutate(copy[key], rng, depth + 1);
    } else if (keys.length > 0 && roll < 7) {
      delete copy[rng.pick(keys)];
    } else {
      copy[rng.pick(['extra', '__proto__', 'orgId', 'constructor', '\u0000', 'x'.repeat(300)])] =
        anyValue(rng);
    }
    return copy;
  }
  switch (rng.int(0, 5)) {
    case 0:
      return anyValue(rng);
    case 1:
      return evilString(rng);
    case 2:
      return evilNumber(rng);
    case 3:
      return typeof value === 'string' ? `${value}${evilString(rng)}` : String(value);
    case 4:
      return null;
    default:
      return typeof value === 'number' ? -value - 1 : [value];
  }
}
