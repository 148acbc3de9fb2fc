import { coalescing, type TopicBatch } from './coalesce';

const message = (key: string, bytes = 10) => ({ key, value: Buffer.alloc(bytes) });
const batch = (topic: string, ...keys: string[]): TopicBatch[] => [
  { topic, messages: keys.map((k) => message(k)) },
];
/** What one request carried: topic → keys in order. */
const carried = (batches: TopicBatch[]) =>
  Object.fromEntries(batches.map((b) => [b.topic, b.messages.map((m) => m.key)]));

/** A transport whose requests complete when the test says so. */
function manualTransport() {
  const requests: Array<{ batches: TopicBatch[]; ack(): void; fail(error: Error): void }> = [];
  const send = (batches: TopicBatch[]) =>
    new Promise<void>((resolve, reject) => requests.push({ batches, ack: resolve, fail: reject }));
  return { requests, send };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('coalescing publishes', () => {
  const limits = { maxMessages: 100, maxBytes: 1_000_000 };

  it('sends a publish at once when nothing is in flight', async () => {
    const t = manualTransport();
    const publish = coalescing(t.send, limits);
    const done = publish(batch('a', 'k1'));
    await flush();
    expect(t.requests.map((r) => carried(r.batches))).toEqual([{ a: ['k1'] }]);
    t.requests[0]!.ack();
    await expect(done).resolves.toBeUndefined();
  });

  it('sends the publishes made during a request together in the next, in call order per topic', async () => {
    const t = manualTransport();
    const publish = coalescing(t.send, limits);
    const settled: string[] = [];
    const first = publish(batch('a', 'k1')).then(() => settled.push('first'));
    await flush();
    const second = publish(batch('a', 'k2')).then(() => settled.push('second'));
    const third = publish([
      { topic: 'b', messages: [message('x1')] },
      { topic: 'a', messages: [message('k3')] },
    ]).then(() => settled.push('third'));
    await flush();
    expect(t.requests).toHaveLength(1); // the others wait for the first request
    t.requests[0]!.ack();
    await first;
    await flush();
    expect(t.requests).toHaveLength(2);
    expect(carried(t.requests[1]!.batches)).toEqual({ a: ['k2', 'k3'], b: ['x1'] });
    expect(settled).toEqual(['first']); // not acknowledged yet
    t.requests[1]!.ack();
    await Promise.all([second, third]);
    expect(settled).toEqual(['first', 'second', 'third']);
  });

  it('splits what waits at the message and byte limits, never splitting a caller within them', async () => {
    const t = manualTransport();
    const publish = coalescing(t.send, { maxMessages: 3, maxBytes: 1_000 });
    const all = [publish(batch('a', 'k0'))];
    await flush();
    all.push(publish(batch('a', 'k1', 'k2')));
    all.push(publish(batch('a', 'k3', 'k4'))); // would make 4 messages: next request
    all.push(publish(batch('a', 'k5', 'k6', 'k7', 'k8'))); // over the limit alone: goes alone
    all.push(publish([{ topic: 'a', messages: [message('k9', 600)] }]));
    all.push(publish([{ topic: 'a', messages: [message('k10', 600)] }])); // 1,200 bytes with k9
    for (let i = 0; i < 6; i += 1) {
      await flush();
      t.requests[i]?.ack();
    }
    await Promise.all(all);
    expect(t.requests.map((r) => carried(r.batches).a)).toEqual([
      ['k0'],
      ['k1', 'k2'],
      ['k3', 'k4'],
      ['k5', 'k6', 'k7', 'k8'],
      ['k9'],
      ['k10'],
    ]);
  });

  it("sends a caller's batch over the byte limit in several requests, one after the other, in order", async () => {
    const t = manualTransport();
    const publish = coalescing(t.send, { maxMessages: 100, maxBytes: 1_000 });
    const done = publish([
      { topic: 'a', messages: [message('k1', 400), message('k2', 400), message('k3', 400)] },
      { topic: 'b', messages: [message('x1', 400)] },
      { topic: 'a', messages: [message('k4', 2_000)] },
    ]);
    for (let i = 0; i < 3; i += 1) {
      await flush();
      expect(t.requests).toHaveLength(i + 1); // the next waits for this one
      t.requests[i]!.ack();
    }
    await expect(done).resolves.toBeUndefined();
    expect(t.requests.map((r) => carried(r.batches))).toEqual([
      { a: ['k1', 'k2'] },
      { a: ['k3'], b: ['x1'] },
      { a: ['k4'] }, // larger than the limit alone: a request of its own
    ]);
  });

  it('fails only the caller whose batch fails: a failed combined request is resent per caller', async () => {
    const sent: Array<Record<string, string[]>> = [];
    const publish = coalescing(async (batches) => {
      sent.push(carried(batches));
      await Promise.resolve();
      if (batches.some((b) => b.messages.some((m) => m.key === 'bad'))) throw new Error('too large');
    }, limits);
    const first = publish(batch('a', 'k1'));
    const good = publish(batch('a', 'k2'));
    const bad = publish(batch('a', 'bad'));
    const later = publish(batch('a', 'k3'));
    await expect(first).resolves.toBeUndefined();
    await expect(good).resolves.toBeUndefined();
    await expect(bad).rejects.toThrow('too large');
    await expect(later).resolves.toBeUndefined();
    expect(sent).toEqual([
      { a: ['k1'] },
      { a: ['k2', 'bad', 'k3'] },
      { a: ['k2'] },
      { a: ['bad'] },
      { a: ['k3'] },
    ]);
  });

  it('resolves an empty publish without a request', async () => {
    const send = jest.fn(async () => undefined);
    const publish = coalescing(send, limits);
    await publish([{ topic: 'a', messages: [] }]);
    await publish([]);
    expect(send).not.toHaveBeenCalled();
  });

  it('keeps going after a lone publish fails', async () => {
    let fail = true;
    const publish = coalescing(async () => {
      await Promise.resolve();
      if (fail) throw new Error('broker down');
    }, limits);
    await expect(publish(batch('a', 'k1'))).rejects.toThrow('broker down');
    fail = false;
    await expect(publish(batch('a', 'k2'))).resolves.toBeUndefined();
  });
});
