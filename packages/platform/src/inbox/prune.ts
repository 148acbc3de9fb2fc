import { withSystem, type Database } from '../db';
import { Wakeup } from '../bus/signals';

export const DAY_MS = 86_400_000;
/** Longer than any catalog topic keeps its messages: a redelivery can only come from within it. */
export const DEFAULT_INBOX_RETENTION_MS = 7 * DAY_MS;

export interface InboxPrunerOptions {
  db: Database;
  /** Records older than this go; a redelivery of their events would no longer be recognised. */
  retentionMs?: number;
  /** Rows deleted per transaction: small, so no consumer waits long on a prune. */
  batchSize?: number;
  intervalMs?: number;
  /** Set to the table's approximate row count after each pass. */
  size?: { set(value: number): void };
  onError?(error: unknown): void;
}

export interface InboxPruner {
  start(): void;
  stop(): Promise<void>;
  /** One pass: deletes every record past the window, batch by batch; resolves to how many. */
  pruneOnce(): Promise<number>;
}

/**
 * Prunes inbox_processed past the retention window. Each batch is its own short transaction and
 * skips rows a consumer holds (SKIP LOCKED), so consumers are never blocked behind a prune.
 */
export function createInboxPruner(options: InboxPrunerOptions): InboxPruner {
  const { db } = options;
  const retentionMs = options.retentionMs ?? DEFAULT_INBOX_RETENTION_MS;
  const batchSize = options.batchSize ?? 1_000;
  const intervalMs = options.intervalMs ?? 10 * 60_000;
  if (!(retentionMs > 0)) throw new RangeError(`inbox retention must be positive, got ${retentionMs}`);
  const wakeup = new Wakeup();
  let running = false;
  let loop: Promise<void> | undefined;

  const pruneBatch = () =>
    withSystem(db.owner, async (trx) => {
      const { rowCount } = await trx.raw<{ rowCount: number }>(
        `delete from inbox_processed
          where ctid = any(array(
            select ctid from inbox_processed
             where processed_at < now() - make_interval(secs => ?::double precision / 1000)
             limit ? for update skip locked))`,
        [retentionMs, batchSize],
      );
      return rowCount;
    });

  const pruneOnce = async () => {
    let deleted = 0;
    for (;;) {
      const n = await pruneBatch();
      deleted += n;
      if (n < batchSize || (!running && loop !== undefined)) break;
    }
    if (options.size) {
      const { rows } = await db.owner.raw<{ rows: Array<{ n: string }> }>(
        `select greatest(reltuples, 0)::bigint as n from pg_class where oid = 'inbox_processed'::regclass`,
      );
      options.size.set(Number(rows[0]?.n ?? 0));
    }
    return deleted;
  };

  return {
    pruneOnce,
    start() {
      if (running) return;
      running = true;
      loop = (async () => {
        while (running) {
          await pruneOnce().catch((error: unknown) => options.onError?.(error));
          await wakeup.wait(intervalMs);
        }
      })();
    },
    async stop() {
      running = false;
      wakeup.wake();
      await loop;
    },
  };
}
