import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createLogger } from '../logging';
import {
  asyncHandler,
  createHttpApp,
  createMetrics,
  NotFoundError,
  ReadinessChecks,
  startHttpServer,
} from './index';

const logger = createLogger({ service: 'observability-spec', level: 'silent' });

/**
 * startHttpServer gives requests the app's prototypes from birth; a plain node server leaves express
 * to swap them in. Route patterns are followed either way.
 */
type Serving = 'startHttpServer' | 'node createServer';

async function plainServer(app: express.Express) {
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function serve(readiness?: ReadinessChecks, serving: Serving = 'startHttpServer') {
  const metrics = createMetrics({ service: 'observability-spec' });
  const app = createHttpApp({
    logger,
    metrics,
    readiness,
    readinessTimeoutMs: 200,
    routes: (app) => {
      app.get('/v1/rules/:ruleId', (req, res) => {
        res.json({ ruleId: req.params.ruleId });
      });
      const orgRules = express.Router({ mergeParams: true });
      orgRules.get(
        '/rules/:ruleId',
        asyncHandler(async () => {
          throw new NotFoundError('no such rule');
        }),
      );
      app.use('/v1/orgs/:orgId', orgRules);
      // Two levels deep, without mergeParams.
      const members = express.Router();
      members.get('/:contactId', (_req, res) => {
        res.json({});
      });
      const segments = express.Router();
      segments.use('/:segmentId/members', members);
      app.use('/v1/segments', segments);
    },
  });
  const server =
    serving === 'startHttpServer' ? await startHttpServer(app, 0, '127.0.0.1') : await plainServer(app);
  return { server, metrics };
}

describe('/metrics', () => {
  it.each<Serving>(['startHttpServer', 'node createServer'])(
    'counts requests by route pattern, never by raw URL (%s)',
    async (serving) => {
      const { server } = await serve(undefined, serving);
      try {
        await fetch(`${server.url}/v1/rules/r-1`);
        await fetch(`${server.url}/v1/rules/r-2`);
        await fetch(`${server.url}/v1/orgs/o-1/rules/r-3`);
        await fetch(`${server.url}/v1/unknown/u-1`);
        await fetch(`${server.url}/v1/segments/s-1/members/c-1`);

        const response = await fetch(`${server.url}/metrics`);
        const text = await response.text();

        expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
        expect(text).toContain(
          'http_requests_total{method="GET",route="/v1/rules/:ruleId",status="200",service="observability-spec"} 2',
        );
        expect(text).toContain(
          'http_requests_total{method="GET",route="/v1/orgs/:orgId/rules/:ruleId",status="404",service="observability-spec"} 1',
        );
        expect(text).toContain('http_requests_total{method="GET",route="unrouted",status="404"');
        expect(text).toContain(
          'http_requests_total{method="GET",route="/v1/segments/:segmentId/members/:contactId",status="200",service="observability-spec"} 1',
        );
        expect(text).toContain(
          'http_request_duration_seconds_count{service="observability-spec",method="GET",route="/v1/rules/:ruleId",status="200"} 2',
        );
        expect(text).not.toMatch(/r-1|r-2|o-1|u-1|s-1|c-1/);
        expect(text).toContain('process_cpu_user_seconds_total');
      } finally {
        await server.close();
      }
    },
  );

  it('exposes the runtime gauges once the runtime sets them', async () => {
    const { server, metrics } = await serve();
    try {
      metrics.consumerLag.set({ topic: 'cmis.rules.v1', partition: '3', group: 'drip' }, 42);
      metrics.outboxDepth.set(7);
      metrics.timerBacklog.set(3);

      const text = await (await fetch(`${server.url}/metrics`)).text();

      expect(text).toContain(
        'consumer_lag{topic="cmis.rules.v1",partition="3",group="drip",service="observability-spec"} 42',
      );
      expect(text).toContain('outbox_depth{service="observability-spec"} 7');
      expect(text).toContain('timer_backlog{service="observability-spec"} 3');
    } finally {
      await server.close();
    }
  });
});

describe('/healthz and /readyz', () => {
  it('/healthz answers while the process is alive, whatever the dependencies say', async () => {
    const { server } = await serve(async () => ({ kafka: false }));
    try {
      const response = await fetch(`${server.url}/healthz`);

      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ status: 'ok' });
    } finally {
      await server.close();
    }
  });

  it('/readyz is 200 when every check passes', async () => {
    const { server } = await serve(async () => ({ kafka: true, postgres: 'ok' }));
    try {
      const response = await fetch(`${server.url}/readyz`);

      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ status: 'ready', checks: { kafka: true, postgres: 'ok' } });
    } finally {
      await server.close();
    }
  });

  it('/readyz is 503 problem+json naming the failing checks', async () => {
    const { server } = await serve(async () => ({
      kafka: true,
      redis: 'connection refused',
      postgres: false,
    }));
    try {
      const response = await fetch(`${server.url}/readyz`);
      const body = (await response.json()) as Record<string, unknown>;

      expect(response.status).toBe(503);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(body).toMatchObject({
        type: 'urn:cmis:problem:not-ready',
        status: 503,
        failing: ['redis', 'postgres'],
        checks: { kafka: true, redis: 'connection refused', postgres: false },
      });
      expect(body.detail).toBe('Failing readiness checks: redis (connection refused), postgres');
    } finally {
      await server.close();
    }
  });

  it('/readyz is 503 when the checks throw or hang', async () => {
    const throwing = await serve(async () => {
      throw new Error('pool exhausted');
    });
    const hanging = await serve(() => new Promise(() => undefined));
    try {
      const thrown = await fetch(`${throwing.server.url}/readyz`);
      const timedOut = await fetch(`${hanging.server.url}/readyz`);

      expect(thrown.status).toBe(503);
      expect(await thrown.text()).not.toContain('pool exhausted');
      expect(timedOut.status).toBe(503);
      expect(((await timedOut.json()) as { detail: string }).detail).toContain('200 ms');
    } finally {
      await Promise.all([throwing.server.close(), hanging.server.close()]);
    }
  });
});
