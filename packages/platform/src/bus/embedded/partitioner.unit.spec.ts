import { randomBytes } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import { partitionForKey } from './partitioner';

describe('partitionForKey', () => {
  const kafkajs = Partitioners.DefaultPartitioner();
  const partitionMetadata = (n: number) =>
    Array.from({ length: n }, (_, partitionId) => ({
      partitionErrorCode: 0,
      partitionId,
      leader: 1,
      replicas: [1],
      isr: [1],
    }));
  const viaKafkajs = (key: string, n: number) =>
    kafkajs({ topic: 't', partitionMetadata: partitionMetadata(n), message: { key, value: null } });

  it('puts every key on the partition kafkajs DefaultPartitioner picks', () => {
    const keys = [
      '',
      'a',
      'ab',
      'abc',
      'abcd',
      'org-1:contact-1',
      'ünïcødé:😀',
      ...Array.from({ length: 2_000 }, (_, i) => `${randomBytes(4).toString('hex')}:${'x'.repeat(i % 13)}`),
    ];
    for (const n of [1, 2, 3, 4, 7, 12, 64]) {
      for (const key of keys) expect([key, partitionForKey(key, n)]).toEqual([key, viaKafkajs(key, n)]);
    }
  });

  it('spreads keys over all partitions', () => {
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 8_000; i += 1) counts[partitionForKey(`org-1:contact-${i}`, 8)]! += 1;
    for (const count of counts) expect(count).toBeGreaterThan(700);
  });
});
