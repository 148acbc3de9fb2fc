// Delivers webhook steps outside any transaction. The step wrote a webhook_deliveries row in the
// instance's transaction; the worker leases due rows (FOR UPDATE SKIP LOCKED: replicas share them),
// makes one signed attempt with the delivery id (instance, step, visit) as the webhook-id, then
// removes the row and feeds the outcome to the instance in one transaction. The engine retries a
// failed attempt with backoff on a durable timer, under the same id. A worker that dies after the
// POST and before the record leaves its lease to run out; the row is delivered again under the
// same webhook-id, which receivers deduplicate by (Standard Webhooks).
import { Wakeup, withOrg, withSystem, type ServiceRuntime, type WebhookSender } from '@cmis/platform';
import type { Runner } from '../instances/runner';

export interface WorkflowWebhookWorker {
  start(): void;
  wake(): void;
  stop(): Promise<void>;
  /** One round (tests). */
  runOnce(): Promise<number>;
}

type Leased = {
  org_id: string;
  delivery_id: string;
  instance_id: string;
  step_id: string;
  visit: number;
  request: {
    url: string;
    method: 'POST' | 'PUT' | 'PATCH';
    headers: Record<string, string>;
    body: Record<string, unknown>;
  };
  secret: string | null;
};

export function createWebhookWorker(deps: {
  rt: ServiceRuntime;
  sender: Pick<WebhookSender, 'attempt'>;
  runner: Runner;
  now: () => Date;
  leaseMs?: number;
  intervalMs?: number;
  batch?: number;
}): WorkflowWebhookWorker {
  const { rt, sender, runner, now } = deps;
  const leaseMs = deps.leaseMs ?? 60_000;
  const intervalMs = deps.intervalMs ?? 1_000;
  const wakeup = new Wakeup();
  let stopping = false;
  let loop: Promise<void> | undefined;

  const lease = () =>
    withSystem(rt.db.owner, async (trx) => {
      const at = now();
      const { rows } = await trx.raw<{ rows: Leased[] }>(
        `with due as (
           select org_id, delivery_id from webhook_deliveries
            where due_at <= ? and (leased_until is null or leased_until < ?)
            order by due_at limit ? for update skip locked
         )
         update webhook_deliveries d set leased_until = ?
           from due where d.org_id = due.org_id and d.delivery_id = due.delivery_id
         returning d.org_id, d.delivery_id, d.instance_id, d.step_id, d.visit, d.request,
           (select s.secret from webhook_secrets s
             where s.org_id = d.org_id
               and s.workflow_id = (select i.workflow_id from instances i where i.org_id = d.org_id and i.instance_id = d.instance_id)) as secret`,
        [at, at, deps.batch ?? 16, new Date(at.getTime() + leaseMs)],
      );
      return rows;
    });

  const deliver = async (row: Leased) => {
    const result = row.secret
      ? await sender.attempt({ id: row.delivery_id, ...row.request, secret: row.secret })
      : ({ ok: false, reason: 'the workflow has no webhook secret', retryable: false } as const);
    await withOrg(rt.db.app, row.org_id, async (trx) => {
      const removed = await trx('webhook_deliveries')
        .where({ org_id: row.org_id, delivery_id: row.delivery_id })
        .delete();
      if (removed === 0) return;
      await runner.advance(trx, row.org_id, row.instance_id, {
        kind: 'effect',
        at: now().toISOString(),
        stepId: row.step_id,
        visit: row.visit,
        ok: result.ok,
        ...(result.ok
          ? { detail: { status: result.status } }
          : { reason: result.reason, permanent: !result.retryable }),
      });
    });
  };

  const runOnce = async () => {
    const leased = await lease();
    await Promise.all(
      leased.map((row) =>
        deliver(row).catch((err: unknown) =>
          rt.logger.error({ err, deliveryId: row.delivery_id }, 'workflow webhook outcome not recorded'),
        ),
      ),
    );
    return leased.length;
  };

  return {
    runOnce,
    start() {
      loop = (async () => {
        while (!stopping) {
          try {
            wakeup.reset();
            if ((await runOnce()) > 0) continue;
          } catch (err) {
            rt.logger.error({ err }, 'workflow webhook round failed');
          }
          await wakeup.wait(intervalMs);
        }
      })();
    },
    wake: () => wakeup.wake(),
    async stop() {
      stopping = true;
      wakeup.wake();
      await loop;
    },
  };
}
