import { eventTopicByName, type EventEnvelope } from '@cmis/contracts';
import {
  Counter,
  HttpProblem,
  problemType,
  sleep,
  startProducerSpan,
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
/**
 * How long a request waits for another request's pending claims on its messageIds to resolve
 * (stored: a duplicate; given back: this request publishes them) before answering 503.
 */
export const PENDING_WAIT_MS = 2_000;
type Span = ReturnType<typeof startProducerSpan>['span'];

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
 * for events that are stored: a retry that meets another request's pending claim waits for it
 * (up to PENDING_WAIT_MS) to be done (a duplicate) or given back (published by this request),
 * and past that gets 503 with Retry-After, never "duplicate" for an event that may yet fail.
 * Event ids derive from `<orgId>:<messageId>`: a copy published after Redis lost a claim (or
 * after a pending claim of a crashed process lapsed) carries the same id, which inbox consumers
 * deduplicate.
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
      let keys = facts.map((fact) => `triggers:message:${orgId}:${fact.messageId}`);
      let candidates: readonly IngestFact[] = facts;
      let outcome = await admission.admit(principal, events, keys);
      let published = 0;
      const deadline = Date.now() + PENDING_WAIT_MS;
      for (let look = 1; ; look++) {
        const fresh: IngestFact[] = [];
        const freshKeys: string[] = [];
        const waiting: IngestFact[] = [];
        const waitingKeys: string[] = [];
        for (let i = 0; i < candidates.length; i++) {
          if (outcome.claimed[i]) {
            fresh.push(candidates[i]!);
            freshKeys.push(keys[i]!);
          } else if (outcome.pending[i]) {
            waiting.push(candidates[i]!);
            waitingKeys.push(keys[i]!);
          }
        }
        if (fresh.length > 0) {
          await publishClaimed(orgId, fresh, freshKeys);
          published += fresh.length;
        }
        if (waiting.length === 0) break;
        if (Date.now() >= deadline) {
          // Another request still holds these messageIds while its publish is under way: not stored yet.
          throw new HttpProblem(
            503,
            'Service unavailable',
            `${waiting.length} of the events are being stored by another request with the same messageId; retry to learn the outcome`,
            {
              type: problemType('unavailable'),
              headers: { 'Retry-After': '1' },
              extensions: { published, inFlight: waiting.length },
            },
          );
        }
        // A concurrent request with the same messageIds usually finishes within milliseconds: look
        // again, so this one learns whether they were stored (a duplicate) or given back (publish).
        await sleep(Math.min(10 * look, 200));
        [candidates, keys] = [waiting, waitingKeys];
        outcome = await admission.claim(keys);
      }
      return { published, duplicates: facts.length - published };
    },
  };

  /** Publishes facts whose claims this request took: confirmed once acked, given back on failure. */
  async function publishClaimed(orgId: string, fresh: IngestFact[], freshKeys: string[]): Promise<void> {
    let spans: Span[] = [];
    try {
      const encoded = await encodeByTopic(rt, orgId, source, fresh);
      spans = encoded.spans;
      await publishGrouped(encoded.batches);
    } catch (error) {
      for (const span of spans) span.setStatus({ code: 2, message: (error as Error).message });
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
    } finally {
      for (const span of spans) span.end();
    }
    await admission.confirm(freshKeys).catch((confirmError: unknown) => {
      // Stored all the same: the pending claims lapse, and a later copy carries the same event id.
      claimFailures.inc({ step: 'confirm' });
      rt.logger.error({ err: confirmError }, 'ingest: claims not marked done after the publish');
    });
  }
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

/**
 * The facts as Kafka messages, grouped by topic in one pass (this runs for every event), each with
 * its producer span, child of the request's: the grouped publisher sends many requests' messages
 * together, so each message carries its own request's trace (end the spans once published).
 */
async function encodeByTopic(
  rt: ServiceRuntime,
  orgId: string,
  source: string,
  facts: readonly IngestFact[],
): Promise<{ batches: Array<{ topic: string; messages: OutgoingMessage[] }>; spans: Span[] }> {
  const batches = new Map<string, OutgoingMessage[]>();
  const spans: Span[] = [];
  const encoding: Array<Promise<void>> = [];
  for (const fact of facts) {
    let list = batches.get(fact.topic);
    if (!list) batches.set(fact.topic, (list = []));
    const message: OutgoingMessage = { key: `${orgId}:${fact.subject}`, value: EMPTY, headers: {} };
    list.push(message);
    const envelope = envelopeOf(fact, orgId, source);
    const { span, headers } = startProducerSpan(fact.topic, { 'messaging.message.id': envelope.id });
    spans.push(span);
    encoding.push(
      // Segment facts were validated by their parse, with the topic's payload as the output.
      rt.codec.encode(fact.topic, envelope, { validated: isValidated(fact) }).then((encoded) => {
        message.value = encoded.value;
        message.headers = { ...encoded.headers, ...headers };
      }),
    );
  }
  try {
    await Promise.all(encoding);
  } catch (error) {
    for (const span of spans) span.end();
    throw error;
  }
  return { batches: [...batches].map(([topic, messages]) => ({ topic, messages })), spans };
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
