import express from 'express';
import { z } from 'zod';
import { captureLogLines, createLogger } from '../logging';
import {
  asyncHandler,
  ConflictError,
  createHttpApp,
  createMetrics,
  ForbiddenError,
  NotFoundError,
  requireJson,
  RunningHttpServer,
  startHttpServer,
  TooManyRequestsError,
  UnauthorizedError,
  UnprocessableEntityError,
  validate,
} from './index';

const DripDraft = z.object({
  name: z.string().min(1),
  steps: z.array(z.object({ templateId: z.string().uuid(), delayMs: z.number().int().nonnegative() })).min(1),
});

const domainErrors: Record<string, () => Error> = {
  'not-found': () => new NotFoundError('Drip d-1 does not exist'),
  conflict: () => new ConflictError('Drip d-1 is at version 4, not 3', { currentVersion: 4 }),
  unauthorized: () => new UnauthorizedError(),
  forbidden: () => new ForbiddenError('The key lacks the drips:write scope'),
  'too-many-requests': () => new TooManyRequestsError('Send quota exhausted', 2_500),
  unprocessable: () => new UnprocessableEntityError('A finished drip cannot gain steps'),
};

let server: RunningHttpServer;
const logs = captureLogLines();

beforeAll(async () => {
  const app = createHttpApp({
    logger: createLogger({ service: 'problems-spec', level: 'debug', destination: logs.destination }),
    metrics: createMetrics({ service: 'problems-spec', defaultMetrics: false }),
    bodyLimit: '1kb',
    routes: (app) => {
      app.post('/v1/drips', validate({ body: DripDraft }), (req, res) => {
        res.status(201).json({ name: req.body.name, steps: req.body.steps.length });
      });
      app.get(
        '/v1/drips/:dripId',
        validate({
          params: z.object({ dripId: z.string().uuid() }),
          query: z.object({ limit: z.coerce.number().max(50) }),
        }),
        (req, res) => {
          res.json({ dripId: req.params.dripId, limit: req.query.limit });
        },
      );
      app.post('/v1/raw', requireJson(), (req, res) => {
        res.json({ received: req.body });
      });
      app.get(
        '/v1/errors/:kind',
        asyncHandler(async (req: express.Request<{ kind: string }>) => {
          await Promise.resolve();
          const make = domainErrors[req.params.kind];
          throw make ? make() : new Error('password=hunter2 leaked from the database driver');
        }),
      );
      app.get('/v1/out-of-range', () => {
        // What pg raises for `where version = 1099511627776` on an integer column.
        throw Object.assign(new Error('value "1099511627776" is out of range for type integer'), {
          code: '22003',
        });
      });
      app.get('/v1/store-full', () => {
        // What pg raises when Postgres has no connection slot left.
        throw Object.assign(new Error('sorry, too many clients already'), { code: '53300' });
      });
      app.get('/v1/sync-throw', () => {
        throw new TypeError('cannot read properties of undefined (secret internals)');
      });
    },
  });
  server = await startHttpServer(app, 0, '127.0.0.1');
});

afterAll(() => server.close());

async function call(path: string, init?: RequestInit) {
  const response = await fetch(`${server.url}${path}`, init);
  const text = await response.text();
  return { response, text, body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>) };
}

const postJson = (path: string, body: string, contentType = 'application/json') =>
  call(path, { method: 'POST', headers: { 'content-type': contentType }, body });

function expectProblem(result: Awaited<ReturnType<typeof call>>, status: number, type: string) {
  expect(result.response.status).toBe(status);
  expect(result.response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(result.body).toMatchObject({ type, status, title: expect.any(String), detail: expect.any(String) });
  expect(result.body?.request_id).toBe(result.response.headers.get('x-request-id'));
}

describe('problem+json for every error', () => {
  it('answers valid input normally', async () => {
    const draft = { name: 'Welcome', steps: [{ templateId: crypto.randomUUID(), delayMs: 0 }] };
    const result = await postJson('/v1/drips', JSON.stringify(draft));

    expect(result.response.status).toBe(201);
    expect(result.body).toEqual({ name: 'Welcome', steps: 1 });
  });

  it('400 for malformed JSON', async () => {
    const result = await postJson('/v1/drips', '{"name": "Welcome",');

    expectProblem(result, 400, 'urn:cmis:problem:malformed-json');
    expect(result.body?.instance).toBe('/v1/drips');
  });

  it('413 for a body over the limit', async () => {
    const result = await postJson('/v1/drips', JSON.stringify({ name: 'x'.repeat(2048), steps: [] }));

    expectProblem(result, 413, 'urn:cmis:problem:body-too-large');
    expect(result.body?.detail).toContain('1024 bytes');
  });

  it('415 when a JSON route gets another media type', async () => {
    const viaSchema = await postJson('/v1/drips', 'name=Welcome', 'application/x-www-form-urlencoded');
    const viaRequireJson = await postJson('/v1/raw', 'hello', 'text/plain');

    expectProblem(viaSchema, 415, 'urn:cmis:problem:unsupported-media-type');
    expectProblem(viaRequireJson, 415, 'urn:cmis:problem:unsupported-media-type');
  });

  it('accepts +json media types on JSON routes', async () => {
    const result = await postJson('/v1/raw', '{"a":1}', 'application/merge-patch+json');

    expect(result.response.status).toBe(200);
    expect(result.body).toEqual({ received: { a: 1 } });
  });

  it('404 for an unknown route', async () => {
    const result = await call('/v1/nowhere?token=abc');

    expectProblem(result, 404, 'urn:cmis:problem:route-not-found');
    expect(result.body?.instance).toBe('/v1/nowhere');
  });

  it('400 with the path of every invalid field across body, params and query', async () => {
    const body = await postJson(
      '/v1/drips',
      JSON.stringify({ name: '', steps: [{ templateId: 'nope', delayMs: -5 }] }),
    );
    const paramsAndQuery = await call('/v1/drips/not-a-uuid?limit=500');

    expectProblem(body, 400, 'urn:cmis:problem:validation');
    expect(body.body?.errors).toEqual([
      { path: 'body.name', message: expect.any(String) },
      { path: 'body.steps.0.templateId', message: 'Invalid uuid' },
      { path: 'body.steps.0.delayMs', message: expect.any(String) },
    ]);
    expectProblem(paramsAndQuery, 400, 'urn:cmis:problem:validation');
    expect(paramsAndQuery.body?.errors).toEqual([
      { path: 'params.dripId', message: 'Invalid uuid' },
      { path: 'query.limit', message: expect.any(String) },
    ]);
  });

  it('hands handlers the parsed values', async () => {
    const dripId = crypto.randomUUID();
    const result = await call(`/v1/drips/${dripId}?limit=20`);

    expect(result.body).toEqual({ dripId, limit: 20 });
  });

  it.each([
    ['not-found', 404],
    ['conflict', 409],
    ['unauthorized', 401],
    ['forbidden', 403],
    ['too-many-requests', 429],
    ['unprocessable', 422],
  ])('maps the %s domain error thrown in an async route to %i', async (kind, status) => {
    const result = await call(`/v1/errors/${kind}`);

    expectProblem(result, status, `urn:cmis:problem:${kind}`);
    expect(result.body?.detail).toBe(domainErrors[kind]?.().message);
  });

  it('sets Retry-After on 429, WWW-Authenticate on 401 and keeps extensions', async () => {
    const tooMany = await call('/v1/errors/too-many-requests');
    const unauthorized = await call('/v1/errors/unauthorized');
    const conflict = await call('/v1/errors/conflict');

    expect(tooMany.response.headers.get('retry-after')).toBe('3');
    expect(unauthorized.response.headers.get('www-authenticate')).toBe('Bearer');
    expect(conflict.body?.currentVersion).toBe(4);
  });

  it('500 without leaking message or stack, for async and sync throws', async () => {
    for (const path of ['/v1/errors/boom', '/v1/sync-throw']) {
      const result = await call(path);

      expectProblem(result, 500, 'urn:cmis:problem:internal');
      expect(result.text).not.toMatch(/hunter2|secret internals|at .*\.ts:\d+/);
      expect(Object.keys(result.body ?? {}).sort()).toEqual([
        'detail',
        'instance',
        'request_id',
        'status',
        'title',
        'type',
      ]);
    }
  });

  it('logs the unexpected error with its stack and request id, and an access line with the route pattern', async () => {
    const result = await call('/v1/errors/boom', { headers: { 'x-request-id': 'req-trace-me' } });

    expect(result.body?.request_id).toBe('req-trace-me');
    const errorLine = logs.lines.find((line) => line.request_id === 'req-trace-me' && line.err);
    expect(errorLine).toMatchObject({ level: 'error', err: { message: expect.stringContaining('hunter2') } });
    expect(String((errorLine?.err as { stack?: string }).stack)).toContain('problems.int.spec.ts');
    const accessLine = logs.lines.find(
      (line) => line.request_id === 'req-trace-me' && line.msg === 'request',
    );
    expect(accessLine).toMatchObject({
      method: 'GET',
      route: '/v1/errors/:kind',
      path: '/v1/errors/boom',
      status: 500,
    });
  });

  it('400 for a path segment that is not percent-encoded UTF-8, or a path or query holding NUL', async () => {
    for (const path of ['/v1/drips/%zz', '/v1/drips/%', '/v1/drips/%ED%A0%80']) {
      expectProblem(await call(path), 400, 'urn:cmis:problem:malformed-path');
    }
    expectProblem(await call('/v1/drips/a%00b'), 400, 'urn:cmis:problem:validation');
    const query = await call('/v1/drips/7e0c1a4e-43c1-4a1c-9d9b-5c8f7f1e2a10?limit=1%00');
    expectProblem(query, 400, 'urn:cmis:problem:validation');
    expect(query.body?.errors).toEqual([{ path: 'query.limit', message: expect.any(String) }]);
  });

  it('400 for a value Postgres refuses (SQLSTATE class 22), without its message', async () => {
    const result = await call('/v1/out-of-range');

    expectProblem(result, 400, 'urn:cmis:problem:invalid-value');
    expect(result.text).not.toContain('1099511627776');
  });

  it('503 with Retry-After when Postgres is out of connections, not a 500', async () => {
    const result = await call('/v1/store-full');

    expectProblem(result, 503, 'urn:cmis:problem:store-unavailable');
    expect(result.response.headers.get('retry-after')).toBe('1');
  });

  it('problem+json, not a bare status line, when node refuses the request head (431)', async () => {
    const response = await fetch(`${server.url}/v1/drips/x?q=${'a'.repeat(20_000)}`);

    expect(response.status).toBe(431);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await response.json()).toMatchObject({ type: 'urn:cmis:problem:headers-too-large', status: 431 });
  });

  it('replaces an ill-formed incoming request id', async () => {
    const result = await call('/v1/nowhere', { headers: { 'x-request-id': 'bad id\twith spaces' } });

    expect(result.body?.request_id).toMatch(/^[0-9a-f-]{36}$/);
  });
});
