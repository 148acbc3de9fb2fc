import { AsyncLocalStorage } from 'node:async_hooks';
import { request } from 'node:http';
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import { jsonBody, rawBodyOf, sizeInBytes } from './json-body';
import { startHttpServer, type RunningHttpServer } from './server';
import { isPlainJson, JSON_MEDIA_TYPES } from './validate';

// jsonBody reads the common request itself and must answer exactly as express.json does: the
// same req.body, or an error of the same type and status. Both run side by side on real sockets.
const LIMIT = '1kb';
// Request-scoped context set before the parser must still be there after it (traces use it).
const requestContext = new AsyncLocalStorage<string>();

function echoApp(parser: RequestHandler) {
  const app = express();
  app.use((req, _res, next) => requestContext.run(String(req.headers['x-test-id']), next));
  app.use(parser);
  app.post('/echo', (req, res) => {
    res.json({ body: req.body as unknown, context: requestContext.getStore() });
  });
  const errors: ErrorRequestHandler = (error: { type?: string; status?: number }, _req, res, _next) => {
    res.status(599).json({ error: { type: error.type, status: error.status } });
  };
  app.use(errors);
  return app;
}

let ours: RunningHttpServer;
let theirs: RunningHttpServer;

beforeAll(async () => {
  ours = await startHttpServer(echoApp(jsonBody({ limit: LIMIT, type: JSON_MEDIA_TYPES })), 0, '127.0.0.1');
  theirs = await startHttpServer(
    echoApp(express.json({ limit: LIMIT, type: JSON_MEDIA_TYPES })),
    0,
    '127.0.0.1',
  );
});

afterAll(async () => {
  await ours.close();
  await theirs.close();
});

/** Posts `parts` (written one after another, a tick apart) and returns status and body. */
function post(
  server: RunningHttpServer,
  headers: Record<string, string | number>,
  parts: Buffer[],
  path = '/echo',
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${server.url}${path}`, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.on('error', reject);
    const write = (i: number) => {
      if (i === parts.length) return void req.end();
      req.write(parts[i]);
      setTimeout(() => write(i + 1), 5);
    };
    write(0);
  });
}

const bytes = (text: string) => Buffer.from(text, 'utf8');
const json = 'application/json';

const cases: Array<[string, Record<string, string | number>, Buffer[]]> = [
  ['an object', { 'content-type': json }, [bytes('{"userId":"u-1","n":1.5,"nested":{"a":[1,2]}}')]],
  ['an array', { 'content-type': json }, [bytes('[1,"two",null]')]],
  ['utf-8 charset', { 'content-type': 'application/json; charset=utf-8' }, [bytes('{"a":"é"}')]],
  ['upper-case quoted charset', { 'content-type': 'Application/JSON;charset="UTF-8"' }, [bytes('{"a":1}')]],
  [
    'a byte order mark',
    { 'content-type': json },
    [Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes('{"a":1}')])],
  ],
  ['leading whitespace', { 'content-type': json }, [bytes(' \r\n\t{"a":1}')]],
  ['an empty body', { 'content-type': json }, []],
  ['only whitespace', { 'content-type': json }, [bytes('   ')]],
  ['a top-level string', { 'content-type': json }, [bytes('"hello"')]],
  ['a top-level number', { 'content-type': json }, [bytes('42')]],
  ['malformed JSON', { 'content-type': json }, [bytes('{"a":')]],
  ['trailing garbage', { 'content-type': json }, [bytes('{"a":1} x')]],
  [
    'invalid utf-8 in a string',
    { 'content-type': json },
    [Buffer.concat([bytes('{"a":"'), Buffer.from([0xc3, 0x28]), bytes('"}')])],
  ],
  [
    'a multi-byte character split across writes',
    { 'content-type': json },
    [Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3]), Buffer.from([0xa9, 0x22, 0x7d])],
  ],
  ['a __proto__ key', { 'content-type': json }, [bytes('{"__proto__":{"admin":true},"a":1}')]],
  ['a body over the limit', { 'content-type': json }, [bytes(`{"a":"${'x'.repeat(1100)}"}`)]],
  ['a body exactly at the limit', { 'content-type': json }, [bytes(`{"a":"${'x'.repeat(1024 - 8)}"}`)]],
  ['a space before the parameter', { 'content-type': 'application/json ;charset=utf-8' }, [bytes('{"a":1}')]],
  ['a tab after the semicolon', { 'content-type': 'application/json;\tcharset=utf-8' }, [bytes('{"a":1}')]],
  [
    'spaces around the parameter',
    { 'content-type': 'application/json;  charset = utf-8' },
    [bytes('{"a":1}')],
  ],
  ['a charset other than utf', { 'content-type': 'application/json; charset=latin1' }, [bytes('{"a":1}')]],
  ['a +json media type', { 'content-type': 'application/merge-patch+json' }, [bytes('{"a":1}')]],
  ['another media type', { 'content-type': 'text/plain' }, [bytes('{"a":1}')]],
  ['identity content encoding', { 'content-type': json, 'content-encoding': 'identity' }, [bytes('{"a":1}')]],
  ['an unknown content encoding', { 'content-type': json, 'content-encoding': 'br2' }, [bytes('{"a":1}')]],
];

describe('jsonBody answers as express.json does', () => {
  it.each(cases)('for %s', async (_name, headers, parts) => {
    const length = parts.reduce((n, p) => n + p.length, 0);
    const withLength = { ...headers, 'content-length': length, 'x-test-id': 'req-1' };
    const [a, b] = await Promise.all([post(ours, withLength, parts), post(theirs, withLength, parts)]);
    expect(a).toEqual(b);
  });

  it('for a chunked body', async () => {
    const headers = { 'content-type': json, 'transfer-encoding': 'chunked', 'x-test-id': 'req-2' };
    const parts = [bytes('{"a":'), bytes('[1,2]}')];
    const [a, b] = await Promise.all([post(ours, headers, parts), post(theirs, headers, parts)]);
    expect(a).toEqual(b);
    expect(JSON.parse(a.body)).toEqual({ body: { a: [1, 2] }, context: 'req-2' });
  });

  it('keeps the request context set before it', async () => {
    const parts = [bytes('{"a":1}'), bytes('')];
    const headers = { 'content-type': json, 'content-length': 7, 'x-test-id': 'req-3' };
    const res = await post(ours, headers, parts);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ body: { a: 1 }, context: 'req-3' });
  });
});

const PLAIN = [
  'application/json',
  'APPLICATION/JSON',
  'application/json; charset=utf-8',
  'application/json;charset=UTF-8',
  'application/json; charset="utf-8"',
  'application/json;  charset = utf-8 ',
];

describe('isPlainJson', () => {
  // What it recognises without type-is must be JSON to type-is too (requireJson and jsonBody trust it).
  const contentTypes = [
    ...PLAIN,
    'application/json ;charset=utf-8',
    'application/json;\tcharset=utf-8',
    'application/json; charset=utf-16',
    'application/json; charset=utf-8; foo=bar',
    'application/jsonx',
    'application/json5',
    'text/json',
  ];

  it.each(contentTypes)('%j is plain JSON only if express takes it for JSON', async (contentType) => {
    const app = express();
    app.post('/types', (req, res) => {
      res.json({ plain: isPlainJson(req.headers['content-type']), json: req.is(JSON_MEDIA_TYPES) !== false });
    });
    const server = await startHttpServer(app, 0, '127.0.0.1');
    try {
      const res = await post(
        server,
        { 'content-type': contentType, 'content-length': 2 },
        [bytes('{}')],
        '/types',
      );
      const { plain, json: isJson } = JSON.parse(res.body) as { plain: boolean; json: boolean };
      if (plain) expect(isJson).toBe(true);
      expect(plain).toBe(PLAIN.includes(contentType));
    } finally {
      await server.close();
    }
  });
});

describe('sizeInBytes', () => {
  it('reads limits as the bytes package does', () => {
    expect(sizeInBytes('512kb')).toBe(512 * 1024);
    expect(sizeInBytes('1MB')).toBe(1024 * 1024);
    expect(sizeInBytes('100')).toBe(100);
    expect(sizeInBytes(2048)).toBe(2048);
    expect(sizeInBytes('lots')).toBeUndefined();
  });
});

describe('the raw body', () => {
  let raw: RunningHttpServer;
  beforeAll(async () => {
    const app = express();
    app.use(jsonBody({ limit: LIMIT, type: JSON_MEDIA_TYPES }));
    app.post('/raw', (req, res) => {
      res.json({ raw: rawBodyOf(req)?.toString('utf8') ?? null });
    });
    raw = await startHttpServer(app, 0, '127.0.0.1');
  });
  afterAll(() => raw.close());

  // Webhook senders sign the bytes they send; a pretty-printed body must reach the route as sent.
  it('is kept as received, on the fast path and on express.json’s (chunked, a charset)', async () => {
    const text = '{\n  "a" : 1,\n  "b": [ 2, 3 ]\n}';
    const fast = await post(
      raw,
      { 'content-type': 'application/json', 'content-length': text.length },
      [Buffer.from(text)],
      '/raw',
    );
    expect(JSON.parse(fast.body)).toEqual({ raw: text });
    const general = await post(
      raw,
      { 'content-type': 'application/json; charset=utf-8' },
      [Buffer.from(text.slice(0, 5)), Buffer.from(text.slice(5))],
      '/raw',
    );
    expect(JSON.parse(general.body)).toEqual({ raw: text });
  });
});
