import { Client } from 'pg';
import { backoffDelay } from '../bus';
import { wakeChannel } from './schema';

export interface Wakeups {
  /** True while notifications arrive: pollers then only need a slow safety-net poll. */
  readonly listening: boolean;
  /** Calls `wake` when messages were committed to the partition (or notifications may have been missed). */
  onPartition(topic: string, partition: number, wake: () => void): () => void;
  /** Calls `wake` when a member joined or left the group or gave partitions up. */
  onGroup(groupId: string, wake: () => void): () => void;
  /** Connects the listening session; on failure keeps retrying in the background, never throws. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface WakeupsOptions {
  connectionString: string;
  schema: string;
  applicationName: string;
  onError(message: string, error: unknown): void;
}

/**
 * One LISTEN session per bus turns publishers' and members' NOTIFYs into wake-ups of the local
 * pollers. It is only a shortcut: whatever it misses, the pollers find on their next poll.
 */
export function createWakeups(options: WakeupsOptions): Wakeups {
  const partitionWaiters = new Map<string, Set<() => void>>();
  const groupWaiters = new Map<string, Set<() => void>>();
  let client: Client | undefined;
  let closed = false;
  let started: Promise<void> | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let failures = 0;

  const register = (waiters: Map<string, Set<() => void>>, id: string, wake: () => void) => {
    let set = waiters.get(id);
    if (!set) waiters.set(id, (set = new Set()));
    set.add(wake);
    return () => {
      set.delete(wake);
      if (set.size === 0 && waiters.get(id) === set) waiters.delete(id);
    };
  };

  const wakeAll = () => {
    for (const set of [...partitionWaiters.values(), ...groupWaiters.values()])
      for (const wake of set) wake();
  };

  // Payloads: `m:<partition>:<topic>` after a publish, `g:<groupId>` on a membership change.
  const dispatch = (payload: string | undefined) => {
    if (!payload) return;
    if (payload.startsWith('m:')) {
      const colon = payload.indexOf(':', 2);
      const id = `${payload.slice(2, colon)}:${payload.slice(colon + 1)}`;
      for (const wake of partitionWaiters.get(id) ?? []) wake();
    } else if (payload.startsWith('g:')) {
      for (const wake of groupWaiters.get(payload.slice(2)) ?? []) wake();
    }
  };

  const scheduleReconnect = () => {
    if (closed || retryTimer) return;
    failures += 1;
    retryTimer = setTimeout(
      () => {
        retryTimer = undefined;
        void connect();
      },
      backoffDelay(failures, { initialMs: 250, maxMs: 5_000 }),
    );
  };

  const lost = (c: Client, error?: unknown) => {
    if (client !== c) return;
    client = undefined;
    if (closed) return;
    options.onError('embedded bus lost its LISTEN session; polling until it is back', error);
    c.end().catch(() => undefined);
    scheduleReconnect();
  };

  const connect = async (): Promise<void> => {
    const c = new Client({
      connectionString: options.connectionString,
      application_name: options.applicationName,
      keepAlive: true,
      connectionTimeoutMillis: 10_000,
    });
    c.on('error', (error) => lost(c, error));
    c.on('end', () => lost(c));
    c.on('notification', (n) => dispatch(n.payload));
    try {
      await c.connect();
      await c.query(`listen "${wakeChannel(options.schema)}"`);
    } catch (error) {
      c.end().catch(() => undefined);
      if (closed) return;
      options.onError('embedded bus could not LISTEN; polling until it can', error);
      scheduleReconnect();
      return;
    }
    if (closed) {
      await c.end().catch(() => undefined);
      return;
    }
    client = c;
    failures = 0;
    // Whatever was committed while nobody listened is found by pollers woken now.
    wakeAll();
  };

  return {
    get listening() {
      return client !== undefined;
    },
    onPartition: (topic, partition, wake) => register(partitionWaiters, `${partition}:${topic}`, wake),
    onGroup: (groupId, wake) => register(groupWaiters, groupId, wake),
    start() {
      started ??= connect();
      return started;
    },
    async close() {
      closed = true;
      clearTimeout(retryTimer);
      await started;
      const c = client;
      client = undefined;
      await c?.end().catch(() => undefined);
    },
  };
}
