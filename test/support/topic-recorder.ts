// What the fault tests read back from Kafka: every message of some topics, decoded and kept by
// partition and offset (a reader that restarts reads again and overwrites, never adds), and the
// small counting helpers their assertions use.
import { uniqueName } from '@cmis/testkit';
import type { createCodec, EventEnvelope as Envelope } from '@cmis/contracts';
import type { Consumer, Kafka } from 'kafkajs';

/** Every message of the topics (only keys starting with `keyPrefix`, when given), decoded. */
export class TopicRecorder {
  private readonly seen = new Map<string, Map<string, Envelope>>();
  private consumer: Consumer | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly codec: ReturnType<typeof createCodec>,
    private readonly topics: string[],
    private readonly keyPrefix?: string,
  ) {
    for (const topic of topics) this.seen.set(topic, new Map());
  }

  async start(): Promise<void> {
    this.consumer = this.kafka.consumer({ groupId: uniqueName('fault-reader'), maxWaitTimeInMs: 200 });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: this.topics, fromBeginning: true });
    await this.consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        if (this.keyPrefix !== undefined && !message.key?.toString().startsWith(this.keyPrefix)) return;
        const envelope = await this.codec.decode(topic, { value: message.value, headers: message.headers });
        this.seen.get(topic)!.set(`${partition}:${message.offset}`, envelope);
      },
    });
  }

  /** Messages of the topic read so far. */
  count(topic: string): number {
    return this.seen.get(topic)!.size;
  }

  envelopes(topic: string): Envelope[] {
    return [...this.seen.get(topic)!.values()];
  }

  stop(): Promise<void> {
    return this.consumer?.disconnect() ?? Promise.resolve();
  }
}

/** One envelope per event id (copies a redelivery or a resend put on the topic dropped). */
export function byId(envelopes: Envelope[]): Envelope[] {
  return [...new Map(envelopes.map((e) => [e.id, e])).values()];
}

/** Each value of `key` with the event ids it arrived under (more than one: a double, not a copy). */
export function eventIdsBy(envelopes: Envelope[], key: (e: Envelope) => string): Map<string, Set<string>> {
  const ids = new Map<string, Set<string>>();
  for (const e of envelopes) {
    const k = key(e);
    ids.set(k, (ids.get(k) ?? new Set<string>()).add(e.id));
  }
  return ids;
}

/** How many keys of an `eventIdsBy` arrived under more than one event id. */
export const withTwoIds = (ids: Map<string, Set<string>>): number =>
  [...ids.values()].filter((set) => set.size > 1).length;

/** A payload field as text. */
export const field = (e: Envelope, name: string): string => String((e.data as Record<string, unknown>)[name]);

/** How often each value occurs. */
export function tally(values: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

/** The values of a tally that did not occur exactly once (what a 0-lost-0-doubled check prints). */
export function notOnce(counts: Map<string, number>): Array<[string, number]> {
  return [...counts.entries()].filter(([, n]) => n !== 1);
}
