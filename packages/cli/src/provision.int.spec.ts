import { allTopics } from '@cmis/contracts';
import { Kafka, logLevel } from 'kafkajs';
import { provision, replicationFactorOf } from './admin-commands';
import { runCli } from './spec-support';

describe('cmis provision against the test broker', () => {
  it('leaves every catalog topic and dead-letter topic in place, and creates nothing the second time', async () => {
    const env = {
      KAFKA_BROKERS: process.env.KAFKA_BROKERS,
      SCHEMA_REGISTRY_URL: process.env.SCHEMA_REGISTRY_URL,
    };

    await provision(env);
    const second = await provision(env);

    expect(second.created).toEqual([]);
    expect(second.retentionUpdated).toEqual([]);
    const admin = new Kafka({ brokers: env.KAFKA_BROKERS!.split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const wanted = allTopics().flatMap((t) => [t.name, t.deadLetterTopic]);
      expect(wanted.filter((name) => !existing.has(name))).toEqual([]);
    } finally {
      await admin.disconnect();
    }
  });

  it('registers the value schema of every catalog topic and says so; the binary prints the subjects', async () => {
    const env = {
      KAFKA_BROKERS: process.env.KAFKA_BROKERS,
      SCHEMA_REGISTRY_URL: process.env.SCHEMA_REGISTRY_URL,
    };
    const report = await provision(env);
    expect(report.registered?.map((r) => r.subject)).toEqual(allTopics().map((t) => `${t.name}-value`));
    const registry = await fetch(`${env.SCHEMA_REGISTRY_URL}/subjects`).then(
      (r) => r.json() as Promise<string[]>,
    );
    expect(allTopics().filter((t) => !registry.includes(`${t.name}-value`))).toEqual([]);

    const run = await runCli(['provision'], env as Record<string, string>);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      `schemas registered (${allTopics().length}): cmis.platform.tenancy.v1-value id `,
    );
    const noRegistry = await runCli(['provision'], { KAFKA_BROKERS: env.KAFKA_BROKERS });
    expect(noRegistry.stdout).toContain('schemas: not registered (SCHEMA_REGISTRY_URL is not set)');
    expect((await runCli(['provision'], {})).code).toBe(1);
  });

  it('takes the replication factor from KAFKA_REPLICATION_FACTOR; a bad one is a usage error (exit 2)', async () => {
    const env = { KAFKA_BROKERS: process.env.KAFKA_BROKERS! };
    expect(replicationFactorOf({ KAFKA_REPLICATION_FACTOR: '3' })).toBe(3);
    expect(replicationFactorOf({})).toBeUndefined();
    const ok = await runCli(['provision'], { ...env, KAFKA_REPLICATION_FACTOR: '1' });
    expect(ok.code).toBe(0);
    const bad = await runCli(['provision'], { ...env, KAFKA_REPLICATION_FACTOR: 'three' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('KAFKA_REPLICATION_FACTOR must be a whole number of 1 or more (got three)');
  });

  it('needs KAFKA_BROKERS: the embedded bus provisions itself', async () => {
    await expect(provision({})).rejects.toThrow('cmis provision needs KAFKA_BROKERS');
  });
});
