// Carries out webhook actions outside any transaction. The firing that requested one wrote a
// webhook_deliveries row beside its action-requested event; the worker leases due rows (replicas
// share them: FOR UPDATE SKIP LOCKED), delivers them concurrently with the actionId as the
// idempotency key, then appends the outcome event and removes the row in one transaction. A
// worker that dies mid-delivery leaves its lease to run out, and the row is delivered again under
// the same webhook-id, which receivers deduplicate by (Standard Webhooks).
import { ruleEventsTopic, type WebhookAction } from '@cmis/contracts';
import {
  SpanKind,
  Wakeup,
  stableId,
  withOrg,
  withSpanFrom,
  withSystem,
  type DeliveryResult,
  type ServiceRuntime,
  type WebhookSender,
} from '@cmis/platform';
import type { Knex } from 'knex';

export interface WebhookWorkerOptions {
  rt: ServiceRuntime;
  sender: Pick<WebhookSender, 'deliver'>;
  now: () => Date;
  /** Deliveries running at once (default 16). */
  concurrency?: number;
  /** How long a delivery is the leasing worker's alone (default 2 min: the sender's retries fit). */
  leaseMs?: number;
  /** The safety-net poll when nothing wakes the worker (default 1 s). */
  intervalMs?: number;
}

export interface WebhookWorker {
  start(): void;
  /** Called when a firing that requested webhooks committed. */
  wake(): void;
  /** Stops leasing; deliveries under way finish and record their outcome. */
  stop(): Promise<void>;
}

/** A webhook_deliveries row as a firing queues it (the org is the transaction's). */
export interface QueuedDelivery {
  action_id: string;
  rule_id: string;
  rule_version: number;
  subject: string;
  action: WebhookAction;
  /** The action-requested event's metadata: correlation, causation and trace context. */
  metadata: Record<string, string>;
}

/** A queued delivery as the worker leases it, with its org and the rule's secret. */
interface Leased extends QueuedDelivery {
  org_id: string;
  secret: string | null;
}

/** Queues deliveries in the firing's transaction (one statement, the rows as one JSON array). */
export async function queueDeliveries(
  trx: Knex.Transaction,
  orgId: string,
  deliveries: QueuedDelivery[],
): Promise<void> {
  if (deliveries.length === 0) return;
  await trx.raw(
    `insert into webhook_deliveries (org_id, action_id, rule_id, rule_version, subject, action, metadata)
     select ?::uuid, x.action_id, x.rule_id, x.rule_version, x.subject, x.action, x.metadata
       from jsonb_to_recordset(?::jsonb) as x(action_id text, rule_id text, rule_version integer,
         subject text, action jsonb, metadata jsonb)`,
    [orgId, JSON.stringify(deliveries)],
  );
}

export function createWebhookWorker(options: WebhookWorkerOptions): WebhookWorker {
  const { rt, sender, now } = options;
  const concurrency = options.concurrency ?? 16;
  const leaseMs = options.leaseMs ?? 120_000;
  const intervalMs = options.intervalMs ?? 1_000;
  const running = new Set<Promise<void>>();
  let stopping = false;
  let loop: Promise<void> | undefined;
  // Woken by a committed firing and by each delivery that ends (a slot is free).
  const wakeup = new Wakeup();

  /** Leases up to `limit` due deliveries, oldest first (every org's: the owner's system access). */
  const lease = (limit: number): Promise<Leased[]> =>
    withSystem(rt.db.owner, async (trx) => {
      const { rows } = await trx.raw<{ rows: Leased[] }>(
        `with due as (
           select org_id, action_id from webhook_deliveries
            where leased_until is null or leased_until < now()
            order by created_at
            limit ?
              for update skip locked
         )
         update webhook_deliveries d
            set leased_until = now() + make_interval(secs => ?)
           from due
          where d.org_id = due.org_id and d.action_id = due.action_id
        returning d.org_id, d.action_id, d.rule_id, d.rule_version, d.subject, d.action, d.metadata,
                  (select s.secret from webhook_secrets s
                    where s.org_id = d.org_id and s.rule_id = d.rule_id) as secret`,
        [limit, leaseMs / 1000],
      );
      return rows;
    });

  // The delivery continues the firing's trace; the outcome event continues the delivery's.
  const deliver = (row: Leased): Promise<void> =>
    withSpanFrom(
      'deliver webhook',
      row.metadata,
      SpanKind.CLIENT,
      { 'cmis.org_id': row.org_id, 'cmis.action_id': row.action_id, 'cmis.rule_id': row.rule_id },
      async () => {
        const result: DeliveryResult =
          row.secret === null
            ? { ok: false, reason: 'the rule has no webhook secret', retryable: false, attempts: 1 }
            : await sender.deliver({
                id: row.action_id,
                url: row.action.url,
                method: row.action.method,
                headers: row.action.headers,
                body: row.action.body,
                secret: row.secret,
              });
        await record(row, result);
      },
    );

  /** The outcome event and the row's removal, together; a row already gone was recorded by another. */
  const record = (row: Leased, result: DeliveryResult) =>
    withOrg(rt.db.app, row.org_id, async (trx) => {
      const removed = await trx('webhook_deliveries')
        .where({ org_id: row.org_id, action_id: row.action_id })
        .delete();
      if (removed === 0) return;
      const ref = {
        ruleId: row.rule_id,
        ruleVersion: row.rule_version,
        actionId: row.action_id,
        kind: 'webhook' as const,
      };
      const outcome = result.ok
        ? {
            type: 'cmis.rules.action-succeeded',
            data: {
              ...ref,
              attempts: result.attempts,
              detail: { status: result.status, responseBytes: result.bytes, truncated: result.truncated },
            },
          }
        : {
            type: 'cmis.rules.action-failed',
            data: { ...ref, attempts: result.attempts, reason: result.reason, retryable: false },
          };
      await rt.eventStore.append(trx, {
        orgId: row.org_id,
        streamType: 'webhook-delivery',
        streamId: row.action_id,
        expectedVersion: 'any',
        events: [
          {
            id: stableId(row.action_id, 'outcome'),
            ...outcome,
            // Caused by the action-requested event, whose id is the action's.
            metadata: rt.eventMetadata({
              correlationId: row.metadata.correlationId,
              causationId: row.action_id,
            }),
            topic: ruleEventsTopic.name,
            key: `${row.org_id}:${row.subject}`,
            occurredAt: now(),
          },
        ],
      });
      void trx.executionPromise.then(
        () => rt.relay.wake(),
        () => undefined,
      );
    });

  const run = async () => {
    while (!stopping) {
      try {
        wakeup.reset();
        const free = concurrency - running.size;
        const leased = free > 0 ? await lease(free) : [];
        for (const row of leased) {
          const delivery = deliver(row)
            .catch((error: unknown) =>
              // Not recorded (database down): the lease runs out and the row is delivered again.
              rt.logger.error({ err: error, actionId: row.action_id }, 'webhook outcome not recorded'),
            )
            .finally(() => {
              running.delete(delivery);
              wakeup.wake();
            });
          running.add(delivery);
        }
        // A full lease may have left more due rows: go again at once while there is room.
        if (leased.length > 0 && leased.length === free) continue;
      } catch (error) {
        rt.logger.error({ err: error }, 'leasing webhook deliveries failed');
      }
      if (!stopping) await wakeup.wait(intervalMs);
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
      await Promise.allSettled([...running]);
    },
  };
}
