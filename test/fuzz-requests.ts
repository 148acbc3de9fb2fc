// The fuzz run's requests: every operation of every service's OpenAPI document (plus the admin
// routes every service mounts), each request either valid as far as the schema says or broken in
// one way: the body, a path parameter, the query, the credentials or a header.
import type { SeededRng as Rng } from './support/seeded-rng';
import {
  anyValue,
  evilNumber,
  evilString,
  mutate,
  sample,
  type JsonSchema,
  type SampleContext,
} from './fuzz-values';

export type Auth = 'apiKey' | 'writeKey' | 'admin' | 'none';

export interface Operation {
  service: string;
  method: string;
  /** The OpenAPI path, e.g. `/v1/rules/{ruleId}`. */
  path: string;
  auth: Auth;
  query: Array<{ name: string; schema?: JsonSchema; required?: boolean }>;
  headers: Array<{ name: string; schema?: JsonSchema }>;
  body?: JsonSchema;
  resolve(ref: string): JsonSchema | undefined;
}

interface OpenApiOperation {
  security?: Array<Record<string, unknown>>;
  parameters?: Array<{ name: string; in: string; required?: boolean; schema?: JsonSchema }>;
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, OpenApiOperation>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

const METHODS = ['get', 'post', 'put', 'delete', 'patch'];

/** Every operation of a service's document. */
export function operationsOf(service: string, doc: OpenApiDocument): Operation[] {
  const resolve = (ref: string) => doc.components?.schemas?.[ref.replace('#/components/schemas/', '')];
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!METHODS.includes(method)) continue;
      const scheme = Object.keys(op.security?.[0] ?? {})[0];
      const params = op.parameters ?? [];
      out.push({
        service,
        method: method.toUpperCase(),
        path,
        auth: scheme === 'writeKey' ? 'writeKey' : scheme === 'apiKey' ? 'apiKey' : 'none',
        query: params.filter((p) => p.in === 'query'),
        headers: params.filter((p) => p.in === 'header'),
        body: op.requestBody?.content?.['application/json']?.schema,
        resolve,
      });
    }
  }
  return out;
}

/** The admin routes every service mounts under `/admin` (platform tenancy), with their schemas. */
export function adminOperations(service: string): Operation[] {
  const base = { service, auth: 'admin' as const, query: [], headers: [], resolve: () => undefined };
  return [
    {
      ...base,
      method: 'POST',
      path: '/admin/orgs',
      body: {
        type: 'object',
        required: ['name'],
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 200 },
          orgId: { type: 'string', format: 'uuid' },
        },
        additionalProperties: false,
      },
    },
    {
      ...base,
      method: 'POST',
      path: '/admin/orgs/{orgId}/keys',
      body: {
        type: 'object',
        required: ['scopes'],
        properties: {
          scopes: {
            type: 'array',
            minItems: 1,
            items: { enum: ['rules:read', 'workflows:read', 'drip:read', 'email:read', 'analytics:read'] },
          },
        },
        additionalProperties: false,
      },
    },
    { ...base, method: 'DELETE', path: '/admin/orgs/{orgId}/keys/{keyId}' },
  ];
}

export interface Credentials {
  orgId: string;
  apiKey: string;
  /** A key of another org (its ids must stay invisible). */
  otherOrgKey: string;
  /** A key of the same org with read scopes only. */
  readOnlyKey: string;
  adminToken: string;
  writeKeys: string[];
  /** The key ids of the keys above: the admin routes may revoke any key but these. */
  ownKeyIds: string[];
}

export interface FuzzRequest {
  method: string;
  /** Path and query, already encoded as sent. */
  url: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  /** What was broken, for the report (`valid` when nothing was). */
  mutation: string;
}

/** Ids seen in answers, by the property name they came under, reused for path and body values. */
export class IdPool {
  private readonly ids = new Map<string, string[]>();

  add(name: string, value: string): void {
    const list = this.ids.get(name) ?? [];
    if (list.includes(value)) return;
    list.push(value);
    if (list.length > 30) list.shift();
    this.ids.set(name, list);
  }

  get(name: string): string[] {
    return this.ids.get(name) ?? [];
  }

  /** Records every `*Id`, `id`, `version` and `writeKey` of an answer (two levels deep). */
  harvest(body: unknown, depth = 0): void {
    if (depth > 2 || typeof body !== 'object' || body === null) return;
    if (Array.isArray(body)) {
      for (const item of body.slice(0, 5)) this.harvest(item, depth + 1);
      return;
    }
    for (const [key, value] of Object.entries(body)) {
      if ((typeof value === 'string' && value.length <= 200) || typeof value === 'number') {
        if (/(^id|Id|^version|^token)$/.test(key) || key === 'writeKey') this.add(key, String(value));
      } else this.harvest(value, depth + 1);
    }
  }
}

const NOT_IDS = [
  '0',
  '-1',
  'null',
  '..',
  '%2e%2e',
  '%00',
  '%zz',
  '%',
  'x'.repeat(3000),
  '9'.repeat(30),
  '1e309',
];
const IF_MATCH = [
  '"1"',
  '1',
  'W/"1"',
  '*',
  '"abc"',
  '"-1"',
  '"99999999999999999999"',
  '"1", "2"',
  '',
  'garbage',
];
const CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'application/json; charset=latin1',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/merge-patch+json',
];

// A lone surrogate has no UTF-8 form: it goes as the bytes of its would-be encoding (invalid UTF-8).
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const enc = (value: string) =>
  value
    .split(LONE_SURROGATE)
    .map((part) => encodeURIComponent(part))
    .join('%ED%A0%80');
/** A value a header can carry (latin-1, no control characters) made from anything. */
const headerSafe = (value: string) => value.replace(/[^\x20-\x7e]/g, '?').slice(0, 8000);

/** `roll` in [0, 1): below 0.75 a plausible id (known, or well-formed but unknown), above it not an id. */
function pathValue(
  name: string,
  roll: number,
  rng: Rng,
  pool: IdPool,
  creds: Credentials,
): { value: string; broken: boolean } {
  const known = [...pool.get(name), ...(name === 'id' ? [] : pool.get('id'))].filter(
    (id) => !creds.ownKeyIds.includes(id),
  );
  if (name === 'orgId' && roll < 0.6) return { value: creds.orgId, broken: false };
  if (known.length > 0 && roll < 0.6) return { value: enc(rng.pick(known)), broken: false };
  if (name === 'version' && roll < 0.75)
    return { value: String(rng.pick([1, 2, 0, -1, 2 ** 40])), broken: false };
  if (name === 'address' && roll < 0.75)
    return { value: enc(`fuzz-${rng.hex(4)}@example.com`), broken: false };
  if (name === 'keyId' && roll < 0.7) return { value: rng.hex(16), broken: false };
  if (roll < 0.75) return { value: rng.uuid(), broken: false };
  const evil = rng.pick(NOT_IDS);
  // Some go raw (a malformed percent-escape), most encoded.
  return { value: evil.startsWith('%') ? evil : enc(rng.chance(0.5) ? evil : evilString(rng)), broken: true };
}

function queryString(op: Operation, ctx: SampleContext, broken: boolean): string {
  const { rng } = ctx;
  const parts: string[] = [];
  for (const q of op.query) {
    if (!q.required && rng.chance(0.4)) continue;
    const value =
      broken && rng.chance(0.5)
        ? rng.pick([String(evilNumber(rng)), evilString(rng), 'abc'])
        : String(sample(q.schema, ctx, q.name));
    parts.push(`${enc(q.name)}=${enc(value)}`);
  }
  // Query parameters list routes commonly read, documented or not: their edge must hold too.
  if (broken || rng.chance(0.2)) {
    const name = rng.pick([
      'limit',
      'cursor',
      'from',
      'to',
      'status',
      'offset',
      'since',
      'page',
      'count',
      op.query[0]?.name ?? 'q',
    ]);
    const value = rng.pick([
      String(evilNumber(rng)),
      evilString(rng).slice(0, 2000),
      '',
      '2024-13-45',
      rng.hex(12),
    ]);
    parts.push(`${enc(name)}=${enc(value)}`);
    if (rng.chance(0.3)) parts.push(`${enc(name)}=${enc(value)}`); // repeated: express makes an array
  }
  return parts.length > 0 ? `?${parts.join('&')}` : '';
}

/** `roll` in [0, 1): below 0.8 the credentials the operation needs, above them wrong ones. */
function authorization(
  op: Operation,
  roll: number,
  rng: Rng,
  creds: Credentials,
): { header?: string; broken: string | undefined } {
  const basic = (user: string) => `Basic ${Buffer.from(`${user}:`).toString('base64')}`;
  if (roll < 0.8) {
    switch (op.auth) {
      case 'apiKey':
        return { header: `Bearer ${creds.apiKey}`, broken: undefined };
      case 'writeKey':
        return creds.writeKeys.length > 0
          ? { header: basic(rng.pick(creds.writeKeys)), broken: undefined }
          : { header: undefined, broken: 'no write key yet' };
      case 'admin':
        return { header: `Bearer ${creds.adminToken}`, broken: undefined };
      case 'none':
        return { header: rng.chance(0.2) ? `Bearer ${creds.apiKey}` : undefined, broken: undefined };
    }
  }
  return rng.pick([
    { header: undefined, broken: 'no auth' },
    { header: `Bearer ${creds.otherOrgKey}`, broken: 'other org key' },
    { header: `Bearer ${creds.readOnlyKey}`, broken: 'read-only key' },
    { header: `Bearer cmis_${rng.hex(40)}`, broken: 'unknown key' },
    { header: 'Bearer', broken: 'empty bearer' },
    { header: basic(`wk_${rng.hex(20)}`), broken: 'unknown write key' },
    { header: `Basic ${rng.hex(7)}%%`, broken: 'malformed basic' },
    { header: `Basic ${Buffer.from('\u0000:\u0000').toString('base64')}`, broken: 'NUL basic' },
    { header: `Digest ${rng.hex(8)}`, broken: 'other scheme' },
    { header: `Bearer ${creds.adminToken}`, broken: 'admin token as key' },
    { header: `Bearer ${'k'.repeat(6000)}`, broken: 'huge key' },
  ]);
}

/** One request for `op`: valid by the schema, or broken in one way (named in `mutation`). */
export function buildRequest(op: Operation, rng: Rng, pool: IdPool, creds: Credentials): FuzzRequest {
  const ctx: SampleContext = { rng, resolve: op.resolve, knownIds: (name) => pool.get(name) };
  const kind = rng.next();
  // Roughly: 45% valid, then body, path, query, auth and header mutations.
  const mutation =
    kind < 0.45
      ? 'valid'
      : kind < 0.7
        ? 'body'
        : kind < 0.8
          ? 'path'
          : kind < 0.87
            ? 'query'
            : kind < 0.95
              ? 'auth'
              : 'header';
  const broken: string[] = [];

  let path = op.path;
  for (const match of op.path.matchAll(/\{(\w+)\}/g)) {
    const name = match[1]!;
    const roll = mutation === 'path' ? rng.next() : rng.next() * 0.75;
    const v = pathValue(name, roll, rng, pool, creds);
    if (v.broken) broken.push(`path ${name}`);
    path = path.replace(match[0], v.value);
  }
  path += queryString(op, ctx, mutation === 'query');
  if (mutation === 'query') broken.push('query');

  const headers: Record<string, string> = {};
  const auth = authorization(op, mutation === 'auth' ? 0.8 + rng.next() * 0.2 : rng.next() * 0.8, rng, creds);
  if (auth.header) headers.authorization = auth.header;
  if (auth.broken) broken.push(auth.broken);
  for (const h of op.headers) {
    if (rng.chance(0.7)) headers[h.name] = headerSafe(String(sample(h.schema, ctx, h.name)));
  }

  let body: string | Buffer | undefined;
  const wantsBody =
    op.method !== 'GET' && (op.body !== undefined || op.method === 'POST' || op.method === 'PUT');
  if (wantsBody) {
    headers['content-type'] = 'application/json';
    const valid = op.body ? sample(op.body, ctx, 'body') : rng.chance(0.5) ? {} : undefined;
    if (mutation !== 'body') {
      if (valid !== undefined) body = JSON.stringify(valid);
    } else {
      const roll = rng.int(0, 11);
      if (roll < 6) {
        body = JSON.stringify(mutate(valid ?? {}, rng));
        broken.push('body mutated');
      } else if (roll === 6) {
        body = rng.pick(['{', '{"a":', '[1,', '{"a":1}}', 'nul', '"text"', '42', '{"a":NaN}', '\u0000']);
        broken.push('malformed JSON');
      } else if (roll === 7) {
        headers['content-type'] = rng.pick(CONTENT_TYPES);
        body = rng.chance(0.5) ? JSON.stringify(valid ?? {}) : 'a=1&b=2';
        broken.push(`content-type ${headers['content-type']}`);
      } else if (roll === 8) {
        body = JSON.stringify(rng.chance(0.5) ? [valid] : anyValue(rng));
        broken.push('body of another type');
      } else if (roll === 9) {
        body = Buffer.concat([
          Buffer.from('{"name":"'),
          Buffer.from([0xff, 0xfe, 0xc3, 0x28]),
          Buffer.from('"}'),
        ]);
        broken.push('invalid UTF-8');
      } else if (roll === 10) {
        body = JSON.stringify({
          ...(typeof valid === 'object' && valid ? valid : {}),
          pad: 'x'.repeat(rng.pick([100_000, 600_000])),
        });
        broken.push('huge body');
      } else {
        delete headers['content-type'];
        body = JSON.stringify(valid ?? {});
        broken.push('no content-type');
      }
    }
  }

  if (mutation === 'header' || (op.method !== 'GET' && rng.chance(0.15))) {
    headers['if-match'] = rng.pick(IF_MATCH);
    broken.push(`If-Match ${headers['if-match']}`);
    if (rng.chance(0.3)) {
      headers['idempotency-key'] = headerSafe(evilString(rng)) || 'k';
      broken.push('idempotency-key');
    }
    if (rng.chance(0.2)) {
      headers.accept = 'text/html';
      headers['x-request-id'] = 'r'.repeat(rng.pick([10, 500]));
    }
  }
  // A matching If-Match for the routes that read one, from a version seen in an answer.
  if (!headers['if-match'] && op.method !== 'GET' && rng.chance(0.4)) {
    const versions = [...pool.get('version'), ...pool.get('revision')];
    if (versions.length > 0) headers['if-match'] = `"${rng.pick(versions)}"`;
  }
  return {
    method: op.method,
    url: path,
    headers,
    body,
    mutation: broken.length > 0 ? broken.join(', ') : 'valid',
  };
}
