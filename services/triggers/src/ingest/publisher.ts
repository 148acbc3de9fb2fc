import { eventTopicByName, type EventEnvelope } from '@cmis/contracts';
import { HttpProblem, problemType, type OutgoingMessage, type ServiceRuntime } from '@cmis/platform';
import { isValidated, type IngestFact } from '../shared/fact';
import { DAY_MS } from '../shared/timestamps';
import { stableUuid } from '../shared/ids';
import { groupedPublisher } from './grouped-publish';

const EMPTY = Buffer.alloc(0);

export interface PublishOutcome {
  published: number;
  /** Facts whose messageId this org already sent within the idempotency window. */
  duplicates: number;
}

export type FactPublisher = (orgId: string, facts: readonly IngestFact[]) => Promise<PublishOutcome>;

/**
 * Ingest facts are not aggregates: nothing is decided on them here, so they go straight to
 * Kafka (idempotent producer, acks=all) and the HTTP answer waits for the broker's ack. A
 * messageId is claimed in Redis for `idempotencyTtlMs` first (SET NX, so concurrent retries
 * race safely) and the claim is given back if the publish fails, so the sender's retry goes
 * through. Event ids derive from `<orgId>:<messageId>`: a copy published after Redis lost its
 * claims still carries the same id, which inbox consumers deduplicate.
 */
export function createFactPublisher(
  rt: ServiceRuntime,
  options: { idempotencyTtlMs?: number } = {},
): FactPublisher {
  const ttl = options.idempotencyTtlMs ?? DAY_MS;
  const source = `/cmis/${rt.name}`;
  const publishGrouped = groupedPublisher(rt.bus);

  return async (orgId, facts) => {
    // A fresh helper per call: cooldown locks remember every key they hold until released,
    // and ingest claims are never released on success (they must outlive the request).
    const locks = rt.redis.cooldownLocks();
    const claimKey = (fact: IngestFact) => `triggers:message:${orgId}:${fact.messageId}`;
    const claims = await Promise.all(facts.map((fact) => locks.tryAcquire(claimKey(fact), ttl)));
    const fresh = facts.filter((_, i) => claims[i]);
    if (fresh.length === 0) return { published: 0, duplicates: facts.length };
    try {
      // One pass, no intermediate arrays: this runs for every event.
      const batches = new Map<string, OutgoingMessage[]>();
      const encoding: Array<Promise<void>> = [];
      for (const fact of fresh) {
        let list = batches.get(fact.topic);
        if (!list) batches.set(fact.topic, (list = []));
        const message: OutgoingMessage = { key: `${orgId}:${fact.subject}`, value: EMPTY, headers: {} };
        list.push(message);
        encoding.push(
          // Segment facts were validated by their parse, with the topic's payload as the output.
          rt.codec
            .encode(fact.topic, envelopeOf(fact, orgId, source), { validated: isValidated(fact) })
            .then((encoded) => {
              message.value = encoded.value;
              message.headers = encoded.headers;
            }),
        );
      }
      await Promise.all(encoding);
      await publishGrouped([...batches].map(([topic, messages]) => ({ topic, messages })));
    } catch (error) {
      await Promise.allSettled(fresh.map((fact) => locks.release(claimKey(fact))));
      rt.logger.error({ err: error }, 'ingest publish failed; claims released for the retry');
      throw new HttpProblem(503, 'Service unavailable', 'The events could not be stored; retry later', {
        type: problemType('unavailable'),
        headers: { 'Retry-After': '1' },
        cause: error,
      });
    }
    return { published: fresh.length, duplicates: facts.length - fresh.length };
  };
}

function envelopeOf(fact: IngestFact, orgId: string, source: string): EventEnvelope {
  const id = stableUuid(orgId, fact.messageId);
  return {
    id,
    source,
    type: fact.type,
    specversion: '1.0',
    time: fact.time,
    subject: fact.subject,
    orgId,
    schemaVersion: eventTopicByName(fact.topic)?.schemaVersion ?? 1,
    correlationId: id,
    causationId: null,
    data: fact.data,
  };
}
