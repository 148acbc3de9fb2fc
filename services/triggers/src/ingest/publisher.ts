import { eventTopicByName, type EventEnvelope } from '@cmis/contracts';
import {
  Counter,
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
import { groupedPublisher, PublishQueueFullError } from './grouped-publish';
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
 * messageId is claimed in Redis first, in the same round trip as the rate limits (SET NX, so
 * concurrent retries race safely; nothing is claimed for a request over its limits). A claim is
 * pending (30 s) while its publish is under way and done (the idempotency window) once the broker
 * acked; a failed publish gives it back, so the retry goes through. A 2xx is only ever the answer
 * for events that are stored: a retry that meets another request's pending claim gets 503 with
 * Retry-After, never "duplicate" for an event that may yet fail. Event ids derive from
 * `<orgId>:<messageId>`: a copy published after Redis lost a claim (or after a pending claim of
 * a crashed process lapsed) carries the same id, which inbox consumers deduplicate.
 */
export function createFactPublisher(rt: ServiceRuntime, admission: IngestAdmission): FactPublisher {
  const source = `/cmis/${rt.name}`;
  const publishGrouped = groupedPublisher(rt.bus);
  const claimFailures = new Counter({
    name: 'ingest_claim_failures_total',
    help: 'messageId claims that could not be given back (release) or marked done (confirm) in Redis',
    labelNames: ['step'],
    registers: [rt.metrics.registry],
  });

  return {
    async spend(principal, events) {
      await admission.admit(principal, events, []);
    },

    async publish(principal, facts, events) {
      const { orgId } = principal;
      const claimKeys = facts.map((fact) => `triggers:message:${orgId}:${fact.messageId}`);
      const { claimed, pending } = await admission.admit(principal, events, claimKeys);
      const fresh: IngestFact[] = [];
      const freshKeys: string[] = [];
      let inFlight = 0;
      for (let i = 0; i < facts.length; i++) {
        if (pending[i]) inFlight += 1;
        if (!claimed[i]) continue;
        fresh.push(facts[i]!);
        freshKeys.push(claimKeys[i]!);
      }
      if (fresh.length > 0) {
        try {
          await publishGrouped(await encodeByTopic(rt, orgId, source, fresh));
        } catch (error) {
          await admission.release(freshKeys).catch((releaseError: unknown) => {
            // The pending claims lapse by themselves within PENDING_CLAIM_MS; until then a retry gets 503.
            claimFailures.inc({ step: 'release' });
            rt.logger.error({ err: releaseError }, 'ingest: claims not released after a failed publish');
          });
          const full = error instanceof PublishQueueFullError;
          if (!full) rt.logger.error({ err: error }, 'ingest publish failed; claims released for the retry');
          throw new HttpProblem(
            503,
            'Service unavailable',
            full
              ? 'Too many events wait for the broker; retry later'
              : 'The events could not be stored; retry later',
            { type: problemType('unavailable'), headers: { 'Retry-After': '1' }, cause: error },
          );
        }
        await admission.confirm(freshKeys).catch((confirmError: unknown) => {
          // Stored all the same: the pending claims lapse, and a later copy carries the same event id.
          claimFailures.inc({ step: 'confirm' });
          rt.logger.error({ err: confirmError }, 'ingest: claims not marked done after the publish');
        });
      }
      if (inFlight > 0) {
        // Another request holds these messageIds while its publish is under way: not stored yet.
        throw new HttpProblem(
          503,
          'Service unavailable',
          `${inFlight} of the events are being stored by another request with the same messageId; retry to learn the outcome`,
          {
            type: problemType('unavailable'),
            headers: { 'Retry-After': '1' },
            extensions: { published: fresh.length, inFlight },
          },
        );
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
