import { eventTopicByName, type EventEnvelope } from '@cmis/contracts';
import {
  HttpProblem,
  problemType,
  ValidationError,
  type FieldError,
  type OutgoingMessage,
  type ServiceRuntime,
} from '@cmis/platform';
import type { RejectedItem, SplitBatch } from '../shared/batch';
import { isValidated, type IngestFact } from '../shared/fact';
import { stableUuid } from '../shared/ids';
import { groupedPublisher } from './grouped-publish';
import type { IngestAdmission } from './rate-limits';
import type { WriteKeyPrincipal } from './write-keys';

const EMPTY = Buffer.alloc(0);

export interface PublishOutcome {
  published: number;
  /** Facts whose messageId this org already sent within the idempotency window. */
  duplicates: number;
}

export interface FactPublisher {
  /**
   * Spends `events` of the sender's rate limits (429 when over), then publishes the facts whose
   * messageId this org has not sent before.
   */
  publish(
    principal: WriteKeyPrincipal,
    facts: readonly IngestFact[],
    events: number,
  ): Promise<PublishOutcome>;
  /**
   * For a request refused as invalid: it spends its `events` all the same, and over the limits it
   * is answered 429 rather than 400 (limits are judged before content, as for any request).
   */
  spend(principal: WriteKeyPrincipal, events: number): Promise<void>;
}

/**
 * Ingest facts are not aggregates: nothing is decided on them here, so they go straight to
 * Kafka (idempotent producer, acks=all) and the HTTP answer waits for the broker's ack. Each
 * messageId is claimed in Redis for the idempotency window first, in the same round trip as the
 * rate limits (SET NX, so concurrent retries race safely; nothing is claimed for a request over
 * its limits), and the claims are given back if the publish fails, so the sender's retry goes
 * through. Event ids derive from `<orgId>:<messageId>`: a copy published after Redis lost its
 * claims still carries the same id, which inbox consumers deduplicate.
 */
export function createFactPublisher(rt: ServiceRuntime, admission: IngestAdmission): FactPublisher {
  const source = `/cmis/${rt.name}`;
  const publishGrouped = groupedPublisher(rt.bus);

  return {
    async spend(principal, events) {
      await admission.admit(principal, events, []);
    },

    async publish(principal, facts, events) {
      const { orgId } = principal;
      const claimKeys = facts.map((fact) => `triggers:message:${orgId}:${fact.messageId}`);
      const claimed = await admission.admit(principal, events, claimKeys);
      const fresh: IngestFact[] = [];
      const freshKeys: string[] = [];
      for (let i = 0; i < facts.length; i++) {
        if (!claimed[i]) continue;
        fresh.push(facts[i]!);
        freshKeys.push(claimKeys[i]!);
      }
      if (fresh.length === 0) return { published: 0, duplicates: facts.length };
      try {
        await publishGrouped(await encodeByTopic(rt, orgId, source, fresh));
      } catch (error) {
        await admission.release(freshKeys).catch(() => undefined);
        rt.logger.error({ err: error }, 'ingest publish failed; claims released for the retry');
        throw new HttpProblem(503, 'Service unavailable', 'The events could not be stored; retry later', {
          type: problemType('unavailable'),
          headers: { 'Retry-After': '1' },
          cause: error,
        });
      }
      return { published: fresh.length, duplicates: facts.length - fresh.length };
    },
  };
}

export type JudgedBatch = { ok: true; split: SplitBatch<IngestFact> } | { ok: false; errors: FieldError[] };

/**
 * A batch request once its items are judged: an invalid request, or one with no valid item,
 * still spends its `events` and is answered 400 (`what` names its items in the messages); else
 * the valid items are published and the counts come back for the answer.
 */
export async function publishJudged(
  publish: FactPublisher,
  sender: WriteKeyPrincipal,
  events: number,
  parsed: JudgedBatch,
  what: { request: string; item: string },
): Promise<{ accepted: number; duplicates: number; rejected: RejectedItem[] }> {
  if (!parsed.ok) {
    await publish.spend(sender, events);
    throw new ValidationError(parsed.errors, `The ${what.request} not valid`);
  }
  const { accepted, rejected } = parsed.split;
  if (accepted.length === 0) {
    await publish.spend(sender, events);
    throw new HttpProblem(400, 'Invalid request', `No ${what.item} in the batch is valid`, {
      type: problemType('validation'),
      errors: rejected.flatMap((r) => r.errors),
      extensions: { accepted: 0, duplicates: 0, rejected },
    });
  }
  const outcome = await publish.publish(
    sender,
    accepted.map((a) => a.value),
    events,
  );
  return { accepted: accepted.length, duplicates: outcome.duplicates, rejected };
}

/** The facts as Kafka messages, grouped by topic in one pass (this runs for every event). */
async function encodeByTopic(
  rt: ServiceRuntime,
  orgId: string,
  source: string,
  facts: readonly IngestFact[],
): Promise<Array<{ topic: string; messages: OutgoingMessage[] }>> {
  const batches = new Map<string, OutgoingMessage[]>();
  const encoding: Array<Promise<void>> = [];
  for (const fact of facts) {
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
  return [...batches].map(([topic, messages]) => ({ topic, messages }));
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
