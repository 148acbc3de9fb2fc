// Sends broadcasts at their pace. Each tick leases due broadcasts (replicas share them: FOR UPDATE
// SKIP LOCKED), and for each, in one org transaction, requests the next members of its audience
// (each an ordinary email request, idempotency key per broadcast and recipient, so a repeated tick
// after a crash requests nobody twice) and advances its cursor. Before each tick it checks the
// complaint rate; an A/B broadcast sends its test share, waits for the decision time, decides the
// winner from human unique clicks or opens, and sends the winner to the rest.
import { emailCampaignsTopic, type AbTestDecided, type EmailRequested } from '@cmis/contracts';
import { stableId, Wakeup, withOrg, withSystem, type ServiceRuntime } from '@cmis/platform';
import type { Knex } from 'knex';
import { inTestShare } from '../abtests/assign';
import { decideWinner } from '../abtests/decide';
import type { HandleRequest } from '../messages/request';
import type { EmailSettings } from '../settings/settings';
import {
  COMPLAINT_RATE_LIMIT,
  perTick,
  type BroadcastDefinition,
  type BroadcastPhase,
  type BroadcastStatus,
} from './broadcast';

export interface BroadcastWorker {
  start(): void;
  wake(): void;
  stop(): Promise<void>;
  /** Records a broadcast event (started, paused, completed, decided) in the caller's transaction. */
  publish(
    trx: Knex.Transaction,
    orgId: string,
    broadcastId: string,
    type: string,
    data: object,
    at: Date,
  ): Promise<void>;
}

interface BroadcastRow {
  org_id: string;
  broadcast_id: string;
  definition: BroadcastDefinition;
  status: BroadcastStatus;
  phase: BroadcastPhase;
  cursor: number;
  requested: number;
  winner_variant_id: string | null;
  decide_at: Date | null;
  audience_end: number | null;
}

const TICK_MS = 1_000;

export function createBroadcastWorker(deps: {
  rt: ServiceRuntime;
  handleRequest: HandleRequest;
  settings: (orgId: string) => Promise<EmailSettings>;
  now: () => Date;
  tickMs?: number;
}): BroadcastWorker {
  const { rt, handleRequest, now } = deps;
  const tickMs = deps.tickMs ?? TICK_MS;
  const wakeup = new Wakeup();
  let stopping = false;
  let loop: Promise<void> | undefined;

  async function publish(
    trx: Knex.Transaction,
    orgId: string,
    broadcastId: string,
    type: string,
    data: object,
    at: Date,
  ) {
    await rt.eventStore.append(trx, {
      orgId,
      streamType: 'email-broadcast',
      streamId: broadcastId,
      expectedVersion: 'any',
      events: [
        {
          id: stableId(orgId, broadcastId, type, at.toISOString()),
          type,
          data,
          metadata: rt.eventMetadata({ correlationId: broadcastId }),
          topic: emailCampaignsTopic.name,
          key: `${orgId}:${broadcastId}`,
          occurredAt: at,
        },
      ],
    });
    void trx.executionPromise.then(
      () => rt.relay.wake(),
      () => undefined,
    );
  }

  const update = (trx: Knex.Transaction, row: BroadcastRow, changes: Record<string, unknown>) =>
    trx('broadcasts').where({ org_id: row.org_id, broadcast_id: row.broadcast_id }).update(changes);

  const originFilter = (trx: Knex.Transaction, row: BroadcastRow) =>
    trx('messages')
      .where({ org_id: row.org_id })
      .whereRaw(`origin->>'kind' = 'broadcast' and origin->>'id' = ?`, [row.broadcast_id]);

  /** Pauses the broadcast when its complaint rate passed the limit; true if it did. */
  async function complaintPause(trx: Knex.Transaction, row: BroadcastRow, at: Date): Promise<boolean> {
    const [counts] = await originFilter(trx, row)
      .whereNotNull('sent_at')
      .select(
        trx.raw(`count(*)::int as sent`),
        trx.raw(`count(*) filter (where status = 'complained')::int as complained`),
      );
    const { sent, complained } = counts as { sent: number; complained: number };
    if (sent < row.definition.complaintPauseMinSent || complained / sent <= COMPLAINT_RATE_LIMIT)
      return false;
    const rate = complained / sent;
    const reason = `complaint rate ${(rate * 100).toFixed(2)}% passed ${(COMPLAINT_RATE_LIMIT * 100).toFixed(1)}% (${complained} of ${sent})`;
    await update(trx, row, { status: 'paused', paused_reason: reason, next_at: null });
    await publish(
      trx,
      row.org_id,
      row.broadcast_id,
      'cmis.email.broadcast-paused',
      { broadcastId: row.broadcast_id, reason, complaintRate: rate, by: 'policy' },
      at,
    );
    return true;
  }

  async function decide(trx: Knex.Transaction, row: BroadcastRow, at: Date) {
    const test = row.definition.abTest!;
    const column = test.metric === 'clicks' ? 'human_clicked' : 'human_opened';
    const rows = (await originFilter(trx, row)
      .whereNotNull('variant_id')
      .groupBy('variant_id')
      .select(
        'variant_id',
        trx.raw(`count(*) filter (where sent_at is not null)::int as sent`),
        trx.raw(`count(*) filter (where ${column})::int as conversions`),
      )) as Array<{ variant_id: string; sent: number; conversions: number }>;
    const byId = new Map(rows.map((r) => [r.variant_id, r]));
    const fallbackVariantId = test.fallbackVariantId ?? test.variants[0]!.variantId;
    const decision = decideWinner({
      variants: test.variants.map((v) => ({
        variantId: v.variantId,
        sent: byId.get(v.variantId)?.sent ?? 0,
        conversions: byId.get(v.variantId)?.conversions ?? 0,
      })),
      confidence: test.confidence,
      minSamplePerVariant: test.minSamplePerVariant,
      fallbackVariantId,
      metric: test.metric,
    });
    const decided: AbTestDecided = {
      testId: row.broadcast_id,
      broadcastId: row.broadcast_id,
      metric: test.metric,
      winnerVariantId: decision.winnerVariantId,
      decidedBy: decision.decidedBy,
      confidence: test.confidence,
      ...(decision.pValue !== undefined ? { pValue: decision.pValue } : {}),
      ...(decision.z !== undefined ? { z: decision.z } : {}),
      variants: decision.variants,
      reason: decision.reason,
    };
    await update(trx, row, {
      status: 'sending',
      phase: 'rest',
      cursor: 0,
      winner_variant_id: decision.winnerVariantId,
      next_at: at,
      leased_until: null,
    });
    await publish(trx, row.org_id, row.broadcast_id, 'cmis.email.ab-test-decided', decided, at);
  }

  /** One tick of one broadcast, in its org's transaction. */
  async function tick(row: BroadcastRow) {
    await withOrg(rt.db.app, row.org_id, async (trx) => {
      // Re-read under lock: a pause by the user since the lease wins.
      const current = (await trx('broadcasts')
        .where({ org_id: row.org_id, broadcast_id: row.broadcast_id })
        .forUpdate()
        .first()) as BroadcastRow | undefined;
      if (!current || (current.status !== 'sending' && current.status !== 'testing')) return;
      const at = now();
      if (await complaintPause(trx, current, at)) return;
      if (current.status === 'testing') {
        if (current.decide_at && new Date(current.decide_at) <= at) await decide(trx, current, at);
        else await update(trx, current, { next_at: current.decide_at, leased_until: null });
        return;
      }
      const def = current.definition;
      const test = def.abTest;
      const budget = perTick(def.perMinute, tickMs);
      // A phase of an A/B broadcast skips the other phase's members: look further ahead.
      const limit = test ? budget * 5 : budget;
      const members = (await trx('audience_members')
        .where({ org_id: current.org_id, audience_id: def.audienceId })
        .andWhere('position', '>=', current.cursor)
        .modify((q) => current.audience_end !== null && q.andWhere('position', '<', current.audience_end))
        .orderBy('position')
        .limit(limit)) as Array<{ position: number; contact_id: string | null; address: string | null }>;
      let requested = 0;
      let cursor = current.cursor;
      let sawAll = true;
      for (const m of members) {
        if (requested >= budget) {
          sawAll = false;
          break;
        }
        cursor = m.position + 1;
        const key = m.contact_id ?? m.address!;
        if (test && inTestShare(current.broadcast_id, key, test.testShare) !== (current.phase === 'test'))
          continue;
        const request: EmailRequested = {
          idempotencyKey: `broadcast:${current.broadcast_id}:${key}`,
          to: m.contact_id
            ? { kind: 'contact', contactId: m.contact_id }
            : { kind: 'address', address: m.address! },
          content: def.content,
          data: def.data,
          origin: { kind: 'broadcast', id: current.broadcast_id },
          ...(def.subscriptionTopic ? { subscriptionTopic: def.subscriptionTopic } : {}),
          ...(test
            ? {
                abTest: {
                  testId: current.broadcast_id,
                  variants: test.variants,
                  ...(current.winner_variant_id ? { winnerVariantId: current.winner_variant_id } : {}),
                },
              }
            : {}),
        };
        await handleRequest(trx, current.org_id, request, { correlationId: current.broadcast_id });
        requested++;
      }
      const done = sawAll && members.length < limit;
      if (!done) {
        await update(trx, current, {
          cursor,
          requested: current.requested + requested,
          next_at: new Date(at.getTime() + tickMs),
          leased_until: null,
        });
      } else if (test && current.phase === 'test') {
        const decideAt = new Date(at.getTime() + test.decideAfterMinutes * 60_000);
        await update(trx, current, {
          cursor,
          requested: current.requested + requested,
          status: 'testing',
          decide_at: decideAt,
          next_at: decideAt,
          leased_until: null,
        });
      } else {
        await update(trx, current, {
          cursor,
          requested: current.requested + requested,
          status: 'completed',
          next_at: null,
          leased_until: null,
        });
        await publish(
          trx,
          current.org_id,
          current.broadcast_id,
          'cmis.email.broadcast-completed',
          { broadcastId: current.broadcast_id, requested: current.requested + requested },
          at,
        );
      }
    });
  }

  const lease = () =>
    withSystem(rt.db.owner, async (trx) => {
      const at = now();
      const { rows } = await trx.raw<{ rows: BroadcastRow[] }>(
        `with due as (
           select org_id, broadcast_id from broadcasts
            where next_at <= ? and (leased_until is null or leased_until < ?)
            order by next_at limit 20 for update skip locked)
         update broadcasts b set leased_until = ?::timestamptz + interval '1 minute'
           from due where b.org_id = due.org_id and b.broadcast_id = due.broadcast_id
         returning b.*`,
        [at, at, at],
      );
      return rows;
    });

  const run = async () => {
    while (!stopping) {
      wakeup.reset();
      try {
        for (const row of await lease()) {
          await tick(row).catch((error: unknown) =>
            rt.logger.error({ err: error, broadcastId: row.broadcast_id }, 'broadcast tick failed; retried'),
          );
        }
      } catch (error) {
        rt.logger.error({ err: error }, 'leasing broadcasts failed');
      }
      if (!stopping) await wakeup.wait(Math.min(tickMs, 1_000));
    }
  };

  return {
    start() {
      loop ??= run();
    },
    wake: () => wakeup.wake(),
    async stop() {
      stopping = true;
      wakeup.wake();
      await loop;
    },
    publish,
  };
}
