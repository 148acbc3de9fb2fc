import { createCodec, tenancyTopic } from '@cmis/contracts';
import { testEnv, uniqueName, uniqueSchema, until } from '@cmis/testkit';
import express from 'express';
import { createKafkaBus, type Bus, type Subscription } from '../bus';
import { createDatabase, type Database } from '../db';
import { createHttpApp, createMetrics, startHttpServer, type RunningHttpServer } from '../http';
import { createLogger } from '../logging';
import { platformMigrations } from '../runtime';
import { createApiKeyAuth, type ApiKeyAuth } from './auth';
import { createTenancyAdmin, tenancyAdminRouter } from './admin';
import { startTenancyProjection } from './projection';

const codec = createCodec({ registryUrl: testEnv().schemaRegistryUrl });
const ADMIN_TOKEN = 'a-very-long-admin-token-for-tests';

describe('orgs and API keys: admin → tenancy topic → every service projection', () => {
  let bus: Bus;
  const services: Array<{ db: Database; auth: ApiKeyAuth; sub: Subscription }> = [];
  let server: RunningHttpServer;

  beforeAll(async () => {
    bus = createKafkaBus({ brokers: testEnv().kafkaBrokers!, clientId: uniqueName('tenancy') });
    await bus.ensureTopics([
      { topic: tenancyTopic.name, numPartitions: tenancyTopic.partitions },
      { topic: tenancyTopic.deadLetterTopic, numPartitions: tenancyTopic.partitions },
    ]);
    // Two services, each with its own schema, consumer group and projection.
    for (const name of ['svc-a', 'svc-b']) {
      const db = createDatabase({ url: testEnv().databaseUrl, schema: uniqueSchema('ten') });
      await db.migrate(platformMigrations);
      const sub = await startTenancyProjection({ bus, db, codec, service: uniqueName(name) });
      services.push({ db, auth: createApiKeyAuth({ db, cacheTtlMs: 500 }), sub });
    }
    const admin = createTenancyAdmin({ bus, codec });
    const logger = createLogger({ service: 'test', level: 'silent' });
    const app = createHttpApp({
      logger,
      metrics: createMetrics({ service: 'test', defaultMetrics: false }),
      routes: (a: express.Express) => a.use('/admin', tenancyAdminRouter(admin, ADMIN_TOKEN)),
    });
    server = await startHttpServer(app, 0, '127.0.0.1');
  });

  afterAll(async () => {
    await server.close();
    for (const s of services) await s.sub.stop();
    await bus.close();
    for (const s of services) await s.db.destroy();
  });

  const post = (path: string, body: unknown, token = ADMIN_TOKEN) =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });

  it('a key issued once works in every service; revoked, it stops working everywhere within seconds', async () => {
    const orgRes = await post('/admin/orgs', { name: 'Acme' });
    expect(orgRes.status).toBe(201);
    const org = (await orgRes.json()) as { orgId: string };
    const keyRes = await post(`/admin/orgs/${org.orgId}/keys`, { scopes: ['rules:write'] });
    expect(keyRes.status).toBe(201);
    const issued = (await keyRes.json()) as { keyId: string; key: string };
    expect(issued.key).toMatch(/^cmis_[0-9a-f]{16}_/);

    for (const { auth } of services) {
      const principal = await until(
        () => auth.authenticate(issued.key).catch(() => undefined),
        (p) => p !== undefined,
      );
      expect(principal).toEqual({ orgId: org.orgId, keyId: issued.keyId, scopes: ['rules:write'] });
    }
    // The secret is never stored: only its hash reached the projection.
    const stored = await services[0]!.db.owner.raw('select hash from tenancy_api_keys where key_id = ?', [
      issued.keyId,
    ]);
    expect(JSON.stringify(stored.rows)).not.toContain(issued.key);

    const revokedAt = Date.now();
    const del = await fetch(`${server.url}/admin/orgs/${org.orgId}/keys/${issued.keyId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(del.status).toBe(204);
    for (const { auth } of services) {
      const outcome = await until(
        () =>
          auth.authenticate(issued.key).then(
            () => 'accepted',
            () => 'refused',
          ),
        (o) => o === 'refused',
      );
      expect(outcome).toBe('refused');
    }
    expect(Date.now() - revokedAt).toBeLessThan(5_000);
  });

  it('refuses admin calls without the admin token, as problem+json', async () => {
    const res = await post('/admin/orgs', { name: 'Nope' }, 'wrong-token-wrong-token');
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });

  it('rejects a bad admin request with the field at fault', async () => {
    const res = await post('/admin/orgs', { name: '' });
    expect(res.status).toBe(400);
    const problem = (await res.json()) as { errors: Array<{ path: string }> };
    expect(problem.errors.map((e) => e.path)).toContain('body.name');
  });

  it('refuses unknown, malformed and missing keys', async () => {
    const { auth } = services[0]!;
    await expect(auth.authenticate(undefined)).rejects.toThrow(/required/);
    await expect(auth.authenticate('not-a-key')).rejects.toThrow(/unknown or revoked/);
    await expect(auth.authenticate(`cmis_0123456789abcdef_${'x'.repeat(43)}`)).rejects.toThrow(
      /unknown or revoked/,
    );
  });
});
