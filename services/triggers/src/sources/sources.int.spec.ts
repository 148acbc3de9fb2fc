import { undocumentedRoutes, type RunningServiceProcess } from '@cmis/platform';
import { triggersDemo } from '../demo';
import {
  ADMIN_TOKEN,
  client,
  createOrgWithSource,
  startTriggers,
  until,
  type TestOrg,
} from '../testing/support';

describe('sources: management API, write-key rotation and revocation', () => {
  let proc: RunningServiceProcess;
  let org: TestOrg;

  beforeAll(async () => {
    proc = await startTriggers();
    org = await createOrgWithSource(proc.url);
  });
  afterAll(() => proc?.shutdown());

  const manage = (method: string, path: string, body?: unknown) =>
    client(proc.url)(method, path, { bearer: org.apiKey, body });
  const track = (writeKey: string) =>
    client(proc.url)('POST', '/v1/track', { writeKey, body: { userId: 'u', event: 'Rotated' } });

  it('keeps the old write key working during the grace period, and refuses it once revoked', async () => {
    const rotated = await manage('POST', `/v1/sources/${org.source.sourceId}/write-keys`, {
      graceSeconds: 600,
    });
    expect(rotated.status).toBe(201);
    const { writeKey } = (await rotated.json()) as { writeKey: string };
    expect((await track(org.source.writeKey)).status).toBe(200);
    expect((await track(writeKey)).status).toBe(200);

    const revoked = await manage(
      'DELETE',
      `/v1/sources/${org.source.sourceId}/write-keys/${org.source.writeKeyId}`,
    );
    expect(revoked.status).toBe(204);
    // Lookups are cached for a second per replica.
    await new Promise((r) => setTimeout(r, 1_100));
    expect((await track(org.source.writeKey)).status).toBe(401);
    expect((await track(writeKey)).status).toBe(200);
    const again = await manage(
      'DELETE',
      `/v1/sources/${org.source.sourceId}/write-keys/${org.source.writeKeyId}`,
    );
    expect(again.status).toBe(409);
  });

  it('lists sources without secrets, scoped to the org', async () => {
    const listed = (await (await manage('GET', '/v1/sources')).json()) as {
      sources: Array<Record<string, unknown>>;
    };
    expect(listed.sources.map((s) => s.sourceId)).toEqual([org.source.sourceId]);
    expect(JSON.stringify(listed)).not.toContain(org.source.webhookSecret);
    expect(JSON.stringify(listed)).not.toContain(org.source.writeKey);
    const other = await createOrgWithSource(proc.url);
    expect(
      (await client(proc.url)('GET', `/v1/sources/${org.source.sourceId}`, { bearer: other.apiKey })).status,
    ).toBe(404);
  });

  it('needs an org API key with the right scope, and a valid body', async () => {
    expect((await client(proc.url)('GET', '/v1/sources')).status).toBe(401);
    const issued = await client(proc.url)('POST', `/admin/orgs/${org.orgId}/keys`, {
      bearer: ADMIN_TOKEN,
      body: { scopes: ['triggers:read'] },
    });
    const { key } = (await issued.json()) as { key: string };
    const refused = await until(
      () => client(proc.url)('POST', '/v1/sources', { bearer: key, body: { name: 'nope' } }),
      (r) => r.status !== 401,
    );
    expect(refused.status).toBe(403);
    const bad = await manage('POST', '/v1/sources', { name: '' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: Array<{ path: string }> }).errors[0]!.path).toBe('body.name');
  });

  it('serves its OpenAPI document, which describes every route it serves', async () => {
    const doc = (await (await fetch(`${proc.url}/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    expect(undocumentedRoutes(proc.service.router, doc as never)).toEqual([]);
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/track', '/v1/batch', '/v1/webhooks/{sourceId}', '/v1/schedules']),
    );
  });

  it('demo: creates a source and prints a curl line that lands a track call', async () => {
    const lines = await triggersDemo({ baseUrl: proc.url, apiKey: org.apiKey, orgId: org.orgId });
    const curl = lines.find((l) => l.includes('curl'))!;
    const writeKey = /-u '([^:]+):'/.exec(curl)![1]!;
    expect(curl).toContain(`${proc.url}/v1/track`);
    expect((await track(writeKey)).status).toBe(200);
  });
});
