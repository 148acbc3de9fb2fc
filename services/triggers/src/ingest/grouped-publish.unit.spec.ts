import type { OutgoingMessage } from '@cmis/platform';
import { groupedPublisher, PublishQueueFullError } from './grouped-publish';

const msg = (key: string): OutgoingMessage => ({ key, value: Buffer.from(key) });

describe('grouped publishing', () => {
  it('sends at once when idle, then groups what arrives during a request, in arrival order', async () => {
    const requests: Array<Array<{ topic: string; keys: string[] }>> = [];
    let release: () => void = () => undefined;
    const publish = groupedPublisher({
      publishBatch: async (batches) => {
        requests.push(batches.map((b) => ({ topic: b.topic, keys: b.messages.map((m) => m.key) })));
        if (requests.length === 1) await new Promise<void>((r) => (release = r));
      },
    });
    const first = publish([{ topic: 't', messages: [msg('a:1')] }]);
    const second = publish([{ topic: 't', messages: [msg('a:2')] }]);
    const third = publish([
      { topic: 't', messages: [msg('a:3')] },
      { topic: 'u', messages: [msg('b:1')] },
    ]);
    expect(requests).toHaveLength(1);
    release();
    await Promise.all([first, second, third]);
    expect(requests).toEqual([
      [{ topic: 't', keys: ['a:1'] }],
      [
        { topic: 't', keys: ['a:2', 'a:3'] },
        { topic: 'u', keys: ['b:1'] },
      ],
    ]);
  });

  it('fails every publish of a failed request, and keeps serving after it', async () => {
    let calls = 0;
    const publish = groupedPublisher({
      publishBatch: async () => {
        calls += 1;
        if (calls === 1) throw new Error('broker down');
      },
    });
    await expect(publish([{ topic: 't', messages: [msg('a')] }])).rejects.toThrow('broker down');
    await expect(publish([{ topic: 't', messages: [msg('b')] }])).resolves.toBeUndefined();
  });

  it('refuses a publish that would grow a full queue past its bound, and takes publishes again once it drains', async () => {
    let release: () => void = () => undefined;
    const publish = groupedPublisher(
      {
        publishBatch: async () => {
          await new Promise<void>((r) => (release = r));
        },
      },
      3,
    );
    const inFlight = publish([{ topic: 't', messages: [msg('a:1')] }]); // sent at once
    const waiting = publish([{ topic: 't', messages: [msg('a:2'), msg('a:3')] }]);
    await expect(publish([{ topic: 't', messages: [msg('a:4'), msg('a:5')] }])).rejects.toThrow(
      PublishQueueFullError,
    );
    release();
    await inFlight;
    await new Promise((r) => setImmediate(r));
    release();
    await waiting;
    const later = publish([{ topic: 't', messages: [msg('a:6'), msg('a:7'), msg('a:8'), msg('a:9')] }]);
    release();
    await later; // alone in an idle queue, even a publish over the bound goes
  });
});
