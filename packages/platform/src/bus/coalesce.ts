import type { OutgoingMessage } from './bus';

export type TopicBatch = { topic: string; messages: OutgoingMessage[] };

export interface CoalesceLimits {
  /** Messages in one combined request (a caller's own batch may be larger: it goes alone). */
  maxMessages: number;
  /**
   * Key and value bytes in one request, kept under the broker's batch limit: a caller's batch
   * larger than this goes in several requests, one after the other, in order.
   */
  maxBytes: number;
}

interface Waiting {
  batches: TopicBatch[];
  messages: number;
  bytes: number;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Publishes that arrive while a request is in flight go together in the next request.
 *
 * kafkajs's idempotent producer has one request in flight per broker: each `sendBatch` waits for
 * the one before, so a busy service sending every call on its own queues them one round trip
 * apart (latency grows with load until nothing keeps up). Here the first publish is sent at once;
 * those that arrive meanwhile wait and are then sent in one request, in arrival order (so the
 * order of one key across callers is the order of their calls). Each caller resolves when its
 * own messages are acknowledged.
 *
 * When a combined request fails, each caller's batch is sent again on its own, so one caller's
 * bad batch (too large, unknown topic) fails that caller alone. Messages of a combined request
 * that the broker had already written are then written twice, as with any retried publish:
 * consumers deduplicate on event id. The same holds for the requests of a batch that had to be
 * split (over maxBytes): one that fails after the ones before were written fails the caller.
 */
export function coalescing(
  sendRequest: (batches: TopicBatch[]) => Promise<void>,
  limits: CoalesceLimits,
): (batches: TopicBatch[]) => Promise<void> {
  // `bytes` as counted on arrival: only a batch over the limit is walked again, to be split.
  const send = async (batches: TopicBatch[], bytes: number) => {
    if (bytes <= limits.maxBytes) return sendRequest(batches);
    for (const request of splitRequests(batches, limits.maxBytes)) await sendRequest(request);
  };
  let queue: Waiting[] = [];
  let sending = false;

  const take = (): Waiting[] => {
    let messages = 0;
    let bytes = 0;
    let n = 0;
    while (n < queue.length) {
      const next = queue[n]!;
      if (n > 0 && (messages + next.messages > limits.maxMessages || bytes + next.bytes > limits.maxBytes))
        break;
      messages += next.messages;
      bytes += next.bytes;
      n += 1;
    }
    const taken = queue.slice(0, n);
    queue = queue.slice(n);
    return taken;
  };

  const drain = async () => {
    sending = true;
    try {
      while (queue.length > 0) {
        const taken = take();
        if (taken.length === 1) {
          await settle(taken[0]!, () => send(taken[0]!.batches, taken[0]!.bytes));
          continue;
        }
        try {
          // A group is taken within maxBytes: one request.
          await sendRequest(merge(taken));
          for (const w of taken) w.resolve();
        } catch {
          for (const w of taken) await settle(w, () => send(w.batches, w.bytes));
        }
      }
    } finally {
      sending = false;
    }
  };

  return (batches) =>
    new Promise<void>((resolve, reject) => {
      let messages = 0;
      let bytes = 0;
      for (const batch of batches) {
        messages += batch.messages.length;
        for (const m of batch.messages) bytes += messageBytes(m);
      }
      if (messages === 0) {
        resolve();
        return;
      }
      queue.push({ batches, messages, bytes, resolve, reject });
      if (!sending) void drain();
    });
}

async function settle(waiting: Waiting, work: () => Promise<void>): Promise<void> {
  try {
    await work();
    waiting.resolve();
  } catch (error) {
    waiting.reject(error);
  }
}

/** One batch per topic, each topic's messages in the callers' order. */
function merge(waiting: Waiting[]): TopicBatch[] {
  const byTopic = new Map<string, OutgoingMessage[]>();
  for (const w of waiting) {
    for (const { topic, messages } of w.batches) {
      const list = byTopic.get(topic);
      if (list) for (const m of messages) list.push(m);
      else byTopic.set(topic, [...messages]);
    }
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}

/**
 * The batches as requests of at most `maxBytes` each (a message larger than that alone), in order:
 * each topic's messages keep their order across the requests.
 */
export function splitRequests(batches: TopicBatch[], maxBytes: number): TopicBatch[][] {
  const requests: TopicBatch[][] = [];
  let current = new Map<string, OutgoingMessage[]>();
  let bytes = 0;
  const close = () => {
    requests.push([...current].map(([topic, messages]) => ({ topic, messages })));
    current = new Map();
    bytes = 0;
  };
  for (const { topic, messages } of batches) {
    for (const message of messages) {
      const size = messageBytes(message);
      if (bytes > 0 && bytes + size > maxBytes) close();
      bytes += size;
      const list = current.get(topic);
      if (list) list.push(message);
      else current.set(topic, [message]);
    }
  }
  if (bytes > 0) close();
  return requests;
}

/** Key bytes are counted as UTF-8's worst case, 3 per UTF-16 unit: a bound, not a measure. */
function messageBytes(message: OutgoingMessage): number {
  return message.key.length * 3 + message.value.length;
}
