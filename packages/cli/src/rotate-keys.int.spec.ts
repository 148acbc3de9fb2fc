import { createService as createRules } from '@cmis/rules';
import { until } from '@cmis/testkit';
import { rotateKeys } from './rotate-keys';
import { infraEnv, runCli, startSpecService, type SpecService } from './spec-support';

describe('cmis org rotate-keys: successors with the same scopes, old keys revoked after the grace', () => {
  let service: SpecService;
  beforeAll(async () => {
    service = await startSpecService('cli-rotate-rules', createRules);
  });
  afterAll(async () => {
    await service?.proc.shutdown();
  });
  const status = async (key: string, method = 'GET') =>
    (await service.call(method, '/v1/rules', key, method === 'POST' ? {} : undefined)).status;

  it('the old key works during the grace and stops after it; the new key works with the old scopes', async () => {
    const { orgId, key: oldKey, keyId } = await service.newOrg(['rules:read'], '/v1/rules');
    const rotation = await rotateKeys(infraEnv(), { orgId, graceMs: 6_000 });
    expect(rotation.rotated).toHaveLength(1);
    const [{ key: newKey, oldKeyId, scopes }] = rotation.rotated as [(typeof rotation.rotated)[0]];
    expect({ oldKeyId, scopes }).toEqual({ oldKeyId: keyId, scopes: ['rules:read'] });

    expect(
      await until(
        () => status(newKey),
        (s) => s === 200,
      ),
    ).toBe(200);
    // Scopes kept: read, and still no write.
    expect(await status(newKey, 'POST')).toBe(403);
    expect(await status(oldKey)).toBe(200);
    expect(
      await until(
        () => status(oldKey),
        (s) => s === 401,
        { timeoutMs: 20_000 },
      ),
    ).toBe(401);
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(rotation.revokedFrom));
    expect(await status(newKey)).toBe(200);

    // A second rotation starts from the successor only: the revoked key is not rotated again.
    const again = await rotateKeys(infraEnv(), { orgId, graceMs: 0 });
    expect(again.rotated.map((r) => r.oldKeyId)).toEqual([rotation.rotated[0]!.keyId]);
  });

  it('runs as the binary: --grace 0 revokes at once and prints the new key; a bad flag exits 2', async () => {
    const { orgId, key: oldKey } = await service.newOrg(['rules:read'], '/v1/rules');
    const run = await runCli(['org', 'rotate-keys', '--org', orgId, '--grace', '0'], infraEnv());
    expect(run.code).toBe(0);
    const newKey = /^ {2}(\S+) {2}\(replaces /m.exec(run.stdout)?.[1];
    expect(newKey).toBeDefined();
    expect(
      await until(
        () => status(oldKey),
        (s) => s === 401,
      ),
    ).toBe(401);
    expect(
      await until(
        () => status(newKey!),
        (s) => s === 200,
      ),
    ).toBe(200);

    expect((await runCli(['org', 'rotate-keys'], infraEnv())).code).toBe(2);
    expect((await runCli(['org', 'rotate-keys', '--org', orgId, '--grace', 'soon'], infraEnv())).code).toBe(
      2,
    );
    const down = await runCli(['org', 'rotate-keys', '--org', orgId], { KAFKA_BROKERS: '127.0.0.1:1' });
    expect(down.code).toBe(1);
    expect(down.stderr.trim().split('\n')).toHaveLength(1);
  });
});
