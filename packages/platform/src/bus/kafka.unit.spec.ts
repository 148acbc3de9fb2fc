import { logLevel, Partitioners, type PartitionMetadata } from 'kafkajs';
import { consumerConfig, heartbeating, javaCompatiblePartitioner, murmur2, quietLogCreator } from './kafka';

const partitions = (n: number): PartitionMetadata[] =>
  Array.from({ length: n }, (_, partitionId) => ({
    partitionId,
    leader: 1,
    partitionErrorCode: 0,
    replicas: [1],
    isr: [1],
  }));

// Keys like the bus sends (`<orgId>:<subject>`) plus every tail length and non-ASCII text.
const keys = [
  '',
  'a',
  'ab',
  'abc',
  'abcd',
  '3f1c2b9e-8d4a-4f6b-9c2d-1e5f7a8b9c0d:campaign:cmp-42',
  '3f1c2b9e-8d4a-4f6b-9c2d-1e5f7a8b9c0d:m-117-3',
  'org:contact:jürgen@example.com',
  'org:ünïcödé:日本語:emoji 🎉',
  'lone surrogate \ud800 here',
  ...Array.from(
    { length: 2_000 },
    (_, i) => `org-${i}:${(i * 2_654_435_761).toString(36)}:${'x'.repeat(i % 97)}`,
  ),
];

describe('kafka partitioner', () => {
  it('hashes like Kafka: the Java client reference values', () => {
    // Values of org.apache.kafka.common.utils.Utils.murmur2 (as in the Java client's tests).
    expect(murmur2(Buffer.from('21'))).toBe(-973932308);
    expect(murmur2(Buffer.from('foobar'))).toBe(-790332482);
    expect(murmur2(Buffer.from('a-little-bit-long-string'))).toBe(-985981536);
    expect(murmur2(Buffer.from('a-little-bit-longer-string'))).toBe(-1486304829);
    expect(murmur2(Buffer.from('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8'))).toBe(-58897971);
    expect(murmur2(Buffer.from([0x61, 0x62, 0x63]))).toBe(479470107);
  });

  it.each([1, 3, 12, 50])('sends every key to the partition kafkajs chooses (%i partitions)', (n) => {
    const ours = javaCompatiblePartitioner();
    const theirs = Partitioners.DefaultPartitioner();
    const partitionMetadata = partitions(n);
    for (const key of keys) {
      const args = { topic: 't', partitionMetadata, message: { key, value: null } };
      expect([key, ours(args)]).toEqual([key, theirs(args)]);
    }
  });

  it('keeps an explicit partition', () => {
    const partition = javaCompatiblePartitioner()({
      topic: 't',
      partitionMetadata: partitions(12),
      message: { key: 'k', value: null, partition: 7 },
    });
    expect(partition).toBe(7);
  });
});

describe('quietLogCreator', () => {
  const log = quietLogCreator(logLevel.ERROR);
  const entry = (namespace: string, error: string) => ({
    namespace,
    level: logLevel.ERROR,
    label: 'ERROR',
    log: {
      timestamp: '2026-11-26T00:00:00.000Z',
      message: 'Response ListOffsets(key: 2, version: 3)',
      error,
    },
  });
  let printed: string[];
  beforeEach(() => {
    printed = [];
    jest.spyOn(console, 'error').mockImplementation((line: string) => void printed.push(line));
  });
  afterEach(() => jest.restoreAllMocks());

  it('drops the error responses kafkajs retries itself (leadership and coordinator churn)', () => {
    log(entry('Connection', 'This server is not the leader for that topic-partition'));
    log(entry('Connection', 'The group is rebalancing, so a rejoin is needed'));
    expect(printed).toEqual([]);
  });

  it('prints every other error as a JSON line naming where it came from', () => {
    log(
      entry(
        'Connection',
        'The request included a message larger than the max message size the server will accept',
      ),
    );
    log(entry('Consumer', 'This server is not the leader for that topic-partition'));
    expect(
      printed.map((line) => JSON.parse(line) as { level: string; message: string; error: string }),
    ).toEqual([
      expect.objectContaining({
        level: 'ERROR',
        message: '[Connection] Response ListOffsets(key: 2, version: 3)',
        error: 'The request included a message larger than the max message size the server will accept',
      }),
      expect.objectContaining({ message: '[Consumer] Response ListOffsets(key: 2, version: 3)' }),
    ]);
  });
});

describe('consumerConfig', () => {
  it("passes the session settings to every subscription's consumer", () => {
    expect(
      consumerConfig('rules.user-actions', {
        sessionTimeoutMs: 10_000,
        heartbeatIntervalMs: 1_000,
        fetchMaxBytes: 256 * 1024,
      }),
    ).toEqual({
      groupId: 'rules.user-actions',
      maxWaitTimeInMs: 100,
      maxBytes: 256 * 1024,
      maxBytesPerPartition: 256 * 1024,
      retry: { retries: 10 },
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
    });
  });

  it("leaves kafkajs's defaults (30 s, 3 s) when none are set", () => {
    const config = consumerConfig('rules.user-actions', { sessionTimeoutMs: undefined });
    expect(config).not.toHaveProperty('sessionTimeout');
    expect(config).not.toHaveProperty('heartbeatInterval');
  });

  it("bounds a fetch to 1 MiB, not kafkajs's 10 MiB, when no limit is set", () => {
    const config = consumerConfig('rules.user-actions');
    expect(config.maxBytes).toBe(1024 * 1024);
    expect(config.maxBytesPerPartition).toBe(1024 * 1024);
  });
});

describe('heartbeating', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('beats while a handling runs and stops when told', async () => {
    let beats = 0;
    const stop = heartbeating(async () => void (beats += 1), 20);
    await sleep(130);
    stop();
    const atStop = beats;
    await sleep(80);

    expect(atStop).toBeGreaterThanOrEqual(3);
    expect(beats).toBe(atStop);
  });

  it('leaves a failed beat (a rebalance under way) to the next fetch', async () => {
    let beats = 0;
    const stop = heartbeating(async () => {
      beats += 1;
      throw new Error('The group is rebalancing, so a rejoin is needed');
    }, 20);
    await sleep(70);
    stop();

    expect(beats).toBeGreaterThanOrEqual(2);
  });
});
