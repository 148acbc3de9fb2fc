import { allTopics } from '@cmis/contracts';
import { Kafka, logLevel } from 'kafkajs';
import { provision } from './admin-commands';

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

  it('needs KAFKA_BROKERS: the embedded bus provisions itself', async () => {
    await expect(provision({})).rejects.toThrow('cmis provision needs KAFKA_BROKERS');
  });
});
