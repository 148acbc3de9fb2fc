import Ajv, { type ValidateFunction } from 'ajv';
import { datetimeRegex, z } from 'zod';
import { EnvelopeAttributes } from './envelope';
import { jsonSchemaOf } from './json-schema';
import type { TopicDefinition } from './topic';

/**
 * The fast path of decoding. zod stays the definition and the authority, but walking a zod
 * schema for every consumed event costs ~20 µs; a validator compiled once from the JSON Schema
 * that zod generates (the one registered) costs ~3 µs. It is used only where the JSON Schema
 * says everything zod checks:
 * - objects strip unknown keys (ajv's `removeAdditional` does what zod's strip does);
 * - string formats are checked by zod's own checks, so `date-time` or `uuid` mean what they
 *   mean to zod;
 * - refinements, which JSON Schema cannot carry, sit on fixed paths and are run after ajv on
 *   the same value (a superRefine like "userId or anonymousId" keeps working);
 * - nothing transforms, defaults or unions objects (a failing union branch would strip keys).
 * An event type whose schema uses anything else is validated by zod alone. A value the compiled
 * validator rejects is handed to zod too, so error messages and paths are always zod's.
 */
export type CompiledCheck = (value: unknown) => boolean;

type Refinement = (value: unknown, ctx: z.RefinementCtx) => void;
interface PlacedRefinement {
  path: string[];
  refine: Refinement;
}

const OFFSET_DATETIME = datetimeRegex({ offset: true, local: false, precision: null });
/**
 * The pattern zod 3 checks `.uuid()` with (any version, either case), tested directly: through
 * zod it cost a parse context per id, three ids per envelope. The unit spec holds it to zod.
 */
export const UUID_PATTERN =
  /^[0-9a-fA-F]{8}\b-[0-9a-fA-F]{4}\b-[0-9a-fA-F]{4}\b-[0-9a-fA-F]{4}\b-[0-9a-fA-F]{12}$/i;
const zodEmail = z.string().email();
const zodUrl = z.string().url();

const ajv = new Ajv({
  removeAdditional: true,
  // String lengths as zod counts them (UTF-16 code units), not code points. Ajv 8 still honours
  // the option but warns that it is deprecated, once per instance: that warning alone is dropped.
  unicode: false,
  logger: {
    log: console.log,
    warn: (...args: unknown[]) => {
      if (!String(args[0]).includes('option unicode')) console.warn(...args);
    },
    error: console.error,
  },
  allowUnionTypes: true,
  discriminator: true,
  strict: true,
  formats: {
    'date-time': (s: string) => OFFSET_DATETIME.test(s),
    uuid: (s: string) => UUID_PATTERN.test(s),
    email: (s: string) => zodEmail.safeParse(s).success,
    uri: (s: string) => zodUrl.safeParse(s).success,
  },
});

/** Why a zod schema cannot be mirrored, or the refinements to run beside its JSON Schema. */
class Unmirrorable extends Error {}

/** Walks a zod schema; throws Unmirrorable when the JSON Schema would not check the same. */
function collectRefinements(schema: z.ZodTypeAny, path: string[] | null, found: PlacedRefinement[]): void {
  const def = schema._def as { typeName: string } & Record<string, unknown>;
  switch (def.typeName) {
    case 'ZodObject': {
      const object = schema as z.AnyZodObject;
      if (object._def.unknownKeys !== 'strip' || !(object._def.catchall instanceof z.ZodNever)) {
        throw new Unmirrorable('object with strict or passthrough keys');
      }
      for (const [key, value] of Object.entries(object.shape as z.ZodRawShape)) {
        collectRefinements(value, path && [...path, key], found);
      }
      return;
    }
    case 'ZodString':
      for (const check of (schema as z.ZodString)._def.checks) checkString(check);
      return;
    case 'ZodNumber':
      for (const check of (schema as z.ZodNumber)._def.checks) {
        if (check.kind === 'multipleOf') throw new Unmirrorable('multipleOf');
      }
      return;
    case 'ZodBoolean':
    case 'ZodNull':
    case 'ZodUnknown':
    case 'ZodAny':
    case 'ZodEnum':
      return;
    case 'ZodLiteral':
      if (!['string', 'number', 'boolean'].includes(typeof (schema as z.ZodLiteral<unknown>).value)) {
        throw new Unmirrorable('non-primitive literal');
      }
      return;
    case 'ZodOptional':
    case 'ZodNullable':
      // A refinement below would run only when the value is there: keep it simple, refuse it.
      collectRefinements((schema as z.ZodOptional<z.ZodTypeAny>).unwrap(), null, found);
      return;
    case 'ZodBranded':
      collectRefinements((schema as z.ZodBranded<z.ZodTypeAny, string>).unwrap(), path, found);
      return;
    case 'ZodArray':
      collectRefinements((schema as z.ZodArray<z.ZodTypeAny>).element, null, found);
      return;
    case 'ZodRecord': {
      const record = schema as z.ZodRecord;
      const key = record.keySchema as z.ZodTypeAny;
      if (!(key instanceof z.ZodString) || key._def.checks.length > 0) throw new Unmirrorable('record keys');
      collectRefinements(record.valueSchema as z.ZodTypeAny, null, found);
      return;
    }
    case 'ZodUnion': {
      const options = (schema as z.ZodUnion<[z.ZodTypeAny, ...z.ZodTypeAny[]]>).options as z.ZodTypeAny[];
      for (const option of options) {
        if (holdsObject(option)) throw new Unmirrorable('union of objects');
        collectRefinements(option, null, found);
      }
      return;
    }
    case 'ZodDiscriminatedUnion':
      // Checked through ajv's discriminator (see withDiscriminators): only the branch the
      // discriminator names is evaluated, so no other branch strips keys.
      for (const option of (schema as z.ZodDiscriminatedUnion<string, z.AnyZodObject[]>).options) {
        collectRefinements(option, null, found);
      }
      return;
    case 'ZodEffects': {
      const effects = schema as z.ZodEffects<z.ZodTypeAny>;
      const effect = effects._def.effect;
      if (effect.type !== 'refinement' || path === null) throw new Unmirrorable(`${effect.type} effect`);
      collectRefinements(effects.innerType(), path, found);
      found.push({ path, refine: effect.refinement as Refinement });
      return;
    }
    default:
      throw new Unmirrorable(def.typeName);
  }
}

function checkString(check: z.ZodStringCheck): void {
  switch (check.kind) {
    case 'min':
    case 'max':
    case 'length':
    case 'uuid':
    case 'email':
    case 'url':
      return;
    case 'datetime':
      if (check.offset && !check.local && check.precision === null) return;
      throw new Unmirrorable('datetime with other options');
    case 'regex':
      // ajv compiles patterns with the u flag: the same as zod's for plain ASCII patterns only.
      if (check.regex.flags === '' && /^[\x20-\x7e]*$/.test(check.regex.source)) return;
      throw new Unmirrorable('regex');
    default:
      throw new Unmirrorable(`string check ${check.kind}`);
  }
}

function holdsObject(schema: z.ZodTypeAny): boolean {
  const def = schema._def as { typeName: string; innerType?: z.ZodTypeAny; type?: z.ZodTypeAny };
  if (
    ['ZodObject', 'ZodRecord', 'ZodArray', 'ZodEffects', 'ZodUnion', 'ZodDiscriminatedUnion'].includes(
      def.typeName,
    )
  ) {
    return true;
  }
  const inner = def.innerType ?? def.type;
  return inner !== undefined && holdsObject(inner);
}

function valueAt(value: unknown, path: string[]): unknown {
  let current = value;
  for (const key of path) current = (current as Record<string, unknown>)[key];
  return current;
}

type JsonNode = { [keyword: string]: unknown };

/**
 * zod-to-json-schema writes a discriminated union as `anyOf`. Where every branch is an object
 * whose property `P` is a distinct constant, that is the same as `oneOf` with a discriminator,
 * which ajv evaluates by looking at `P` first: one branch only, so stripping stays correct.
 */
function withDiscriminators(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withDiscriminators);
  if (node === null || typeof node !== 'object') return node;
  const out: JsonNode = {};
  for (const [key, value] of Object.entries(node)) out[key] = withDiscriminators(value);
  const branches = out.anyOf;
  if (!Array.isArray(branches) || branches.length < 2) return out;
  const objects = branches as JsonNode[];
  if (!objects.every((b) => b.type === 'object' && b.properties && Array.isArray(b.required))) return out;
  const first = objects[0]!.properties as Record<string, JsonNode>;
  const discriminator = Object.keys(first).find((name) => {
    const values = objects.map((b) => (b.properties as Record<string, JsonNode>)[name]?.const);
    return (
      values.every((v) => typeof v === 'string') &&
      new Set(values).size === values.length &&
      objects.every((b) => (b.required as string[]).includes(name))
    );
  });
  if (discriminator === undefined) return out;
  const { anyOf: _, ...rest } = out;
  return { ...rest, type: 'object', discriminator: { propertyName: discriminator }, oneOf: objects };
}

/** Compiles the check of a zod schema, or returns undefined (zod alone, then). */
function compile(schema: z.ZodTypeAny): CompiledCheck | undefined {
  const refinements: PlacedRefinement[] = [];
  let validate: ValidateFunction;
  try {
    collectRefinements(schema, [], refinements);
    validate = ajv.compile(withDiscriminators(jsonSchemaOf(schema)) as JsonNode);
  } catch {
    // Unmirrorable, or a schema ajv will not compile: zod checks it alone (the spec lists which).
    return undefined;
  }
  if (refinements.length === 0) return (value) => validate(value);
  return (value) => {
    if (!validate(value)) return false;
    let failed = false;
    for (const { path, refine } of refinements) {
      const ctx = {
        addIssue: () => {
          failed = true;
        },
        path,
      } as unknown as z.RefinementCtx;
      refine(valueAt(value, path), ctx);
      if (failed) return false;
    }
    return true;
  };
}

const envelopeChecks = new WeakMap<TopicDefinition, Map<string, CompiledCheck | undefined>>();
const schemaChecks = new WeakMap<z.ZodTypeAny, CompiledCheck | undefined>();

/**
 * The compiled check of an event type's whole envelope on a topic (undefined: use zod). A value
 * it accepts has had its unknown keys removed, in place, as zod's parse would have.
 */
export function compiledCheck(topic: TopicDefinition, type: string): CompiledCheck | undefined {
  let byType = envelopeChecks.get(topic);
  if (!byType) {
    byType = new Map();
    envelopeChecks.set(topic, byType);
  }
  if (!byType.has(type)) {
    const data = topic.events[type];
    byType.set(
      type,
      data === undefined ? undefined : compile(EnvelopeAttributes.extend({ type: z.literal(type), data })),
    );
  }
  return byType.get(type);
}

/**
 * The compiled check of any schema of the catalog, e.g. one event type's `data` (undefined: use
 * zod). Give it plain JSON (parsed, never the caller's objects): it accepts what zod accepts of
 * that JSON, and strips unknown keys in place.
 */
export function compiledSchemaCheck(schema: z.ZodTypeAny): CompiledCheck | undefined {
  if (!schemaChecks.has(schema)) schemaChecks.set(schema, compile(schema));
  return schemaChecks.get(schema);
}
