import { createDatabase, withSystem, type Database } from '@cmis/platform';
import { createService as createRules, PAUSE_HIGH_CPA_RULE } from '@cmis/rules';
import { rebuild } from './rebuild';
import { infraEnv, runCli, startSpecService, type SpecService } from './spec-support';

describe('cmis rebuild <service>: read models refolded from the event store', () => {
  let service: SpecService;
  let db: Database;
  beforeAll(async () => {
    service = await startSpecService('cli-rebuild-rules', createRules);
    db = createDatabase({ url: infraEnv().DATABASE_URL, schema: service.schema });
  });
  afterAll(async () => {
    await db?.destroy();
    await service?.proc.shutdown();
  });

  const rows = (orgId: string) =>
    withSystem(db.owner, (trx) =>
      trx('rules').where({ org_id: orgId }).orderBy('rule_id').select('*'),
    ) as Promise<Array<Record<string, unknown>>>;

  it('a truncated and a corrupted rules row come back as the commands wrote them', async () => {
    const { orgId, key } = await service.newOrg(['rules:read', 'rules:write'], '/v1/rules');
    const kept = (await service.call('POST', '/v1/rules', key, PAUSE_HIGH_CPA_RULE)).body.ruleId as string;
    await service.call('PUT', `/v1/rules/${kept}`, key, { ...PAUSE_HIGH_CPA_RULE, cooldownSeconds: 600 });
    await service.call('POST', `/v1/rules/${kept}/disable`, key, { reason: 'holiday' });
    const deleted = (await service.call('POST', '/v1/rules', key, { ...PAUSE_HIGH_CPA_RULE, name: 'Other' }))
      .body.ruleId as string;
    expect((await service.call('DELETE', `/v1/rules/${deleted}`, key)).status).toBe(204);
    const original = await rows(orgId);
    expect(original).toHaveLength(2);

    await withSystem(db.owner, async (trx) => {
      await trx('rules').where({ org_id: orgId, rule_id: deleted }).delete();
      await trx('rules').where({ org_id: orgId, rule_id: kept }).update({ enabled: true, version: 99 });
    });
    expect(await rows(orgId)).not.toEqual(original);

    const [report] = await rebuild(infraEnv(), { service: 'rules', schema: service.schema, orgIds: [orgId] });
    expect(report).toEqual({ projection: 'rules', orgs: 1, streams: 2, events: 5 });
    expect(await rows(orgId)).toEqual(original);
    // The service reads the rebuilt model.
    const listed = (await service.call('GET', '/v1/rules', key)).body.rules as Array<{ ruleId: string }>;
    expect(listed.map((r) => r.ruleId)).toEqual([kept]);
  });

  it('runs as the binary: every org of the schema, exit 0; an unknown service or projection exits 2', async () => {
    const { orgId, key } = await service.newOrg(['rules:read', 'rules:write'], '/v1/rules');
    await service.call('POST', '/v1/rules', key, PAUSE_HIGH_CPA_RULE);
    const original = await rows(orgId);
    await withSystem(db.owner, (trx) => trx('rules').where({ org_id: orgId }).delete());

    const ok = await runCli(['rebuild', 'rules', '--schema', service.schema], infraEnv());
    expect(ok).toMatchObject({ code: 0 });
    expect(ok.stdout).toMatch(/^rules\/rules: rebuilt \d+ streams \(\d+ events\) of \d+ orgs$/m);
    expect(await rows(orgId)).toEqual(original);

    const unknown = await runCli(['rebuild', 'billing'], infraEnv());
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown service for rebuild: billing');
    const projection = await runCli(['rebuild', 'rules', '--projection', 'nope'], infraEnv());
    expect(projection.code).toBe(2);
    const noDb = await runCli(['rebuild', 'rules'], {});
    expect(noDb).toMatchObject({
      code: 1,
      stderr: 'cmis: cmis rebuild needs DATABASE_URL (the service database)\n',
    });
  });
});
