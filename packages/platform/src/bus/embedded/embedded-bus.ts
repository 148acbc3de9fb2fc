import { Pool } from 'pg';
import { perPartition, type Bus, type SubscribeOptions, type Subscription } from '../bus';
import { EmbeddedBusClosedError } from './errors';
import { GroupMember, type GroupTiming, type StuckHandler } from './group-member';
import { appendMessages } from './publisher';
import { sweepRetention } from './retention';
import { assertSchemaName, ensureSchema } from './schema';
import { createTopicCatalog, KAFKA_DEFAULT_RETENTION_MS } from './topics';
import { createWakeups } from './wakeups';

export interface EmbeddedBusOptions {
  /** The Postgres that stores the bus (any role that may create the schema, or use it once created). */
  databaseUrl: string;
  /** Schema of the bus's tables, created at first use. Default `cmis_bus`. */
  schema?: string;
  clientId: string;
  /** How often an idle partition reads again while NOTIFY wake-ups are unavailable. Default 100. */
  pollIntervalMs?: number;
  /** The safety-net read of an idle partition while NOTIFY wake-ups arrive. Default 5000. */
  safetyPollIntervalMs?: number;
  /** Most messages handed to one handleBatch call. Default 500. */
  maxBatchMessages?: number;
  /** Partitions of one subscription handled at once (order per partition is kept). Default 1, as on Kafka. */
  partitionsConsumedConcurrently?: number;
  heartbeatIntervalMs?: number;
  /** A member without a heartbeat for this long is dead. Default 10000. */
  sessionTimeoutMs?: number;
  /** How often members re-read the group when no NOTIFY says it changed. Default 1000. */
  rebalanceIntervalMs?: number;
  /** How long subscribe waits for the member to own its partitions. Default 30000. */
  joinTimeoutMs?: number;
  /** How often expired messages are deleted; 0 turns the periodic sweep off. Default 60000. */
  retentionSweepIntervalMs?: number;
  /** Retention of a topic ensured without retentionMs. Default 7 days, Kafka's broker default. */
  defaultRetentionMs?: number;
  /** How long stopping a partition waits for its handler (see GroupTiming.handlerDeadlineMs); default 30000. */
  handlerDeadlineMs?: number;
  /** A handler stuck past that deadline (default: reported through onError). */
  onStuckHandler?(stuck: StuckHandler): void;
  /** Pooled sessions for publishing and bookkeeping; each member also holds one session of its own. */
  poolMax?: number;
  onError?(message: string, error: unknown): void;
}

export interface EmbeddedBus extends Bus {
  readonly schema: string;
  /** Handlers reported stuck so far (for /metrics). */
  stuckHandlers(): number;
  /** Deletes messages past their topic's retention now; resolves to how many went. */
  sweepRetention(): Promise<number>;
}

/**
 * The embedded default transport: Kafka's semantics (partitions by key, consumer groups,
 * committed offsets, retries that never skip) stored in Postgres. Used when KAFKA_BROKERS is unset.
 */
export function createEmbeddedBus(options: EmbeddedBusOptions): EmbeddedBus {
  const schema = options.schema ?? 'cmis_bus';
  assertSchemaName(schema);
  const { clientId, databaseUrl } = options;
  const onError = options.onError ?? (() => undefined);
  const pollIntervalMs = options.pollIntervalMs ?? 100;
  const safetyPollIntervalMs = Math.max(options.safetyPollIntervalMs ?? 5_000, pollIntervalMs);
  const timing: GroupTiming = {
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 1_000,
    sessionTimeoutMs: options.sessionTimeoutMs ?? 10_000,
    rebalanceIntervalMs: options.rebalanceIntervalMs ?? 1_000,
    joinTimeoutMs: options.joinTimeoutMs ?? 30_000,
    handlerDeadlineMs: options.handlerDeadlineMs ?? 30_000,
  };
  const onStuckHandler =
    options.onStuckHandler ??
    ((stuck: StuckHandler) =>
      onError(
        `group ${stuck.groupId}: handler of ${stuck.topic}/${stuck.partition} stuck for ${stuck.stuckMs} ms; partition released uncommitted`,
        undefined,
      ));
  let stuckHandlers = 0;

  const pool = new Pool({
    connectionString: databaseUrl,
    max: options.poolMax ?? 4,
    idleTimeoutMillis: 10_000,
    connectionTimeoutMillis: 10_000,
    application_name: `${clientId}:bus`.slice(0, 63),
  });
  // An idle pooled session that dies emits here; without a listener it would crash the process.
  pool.on('error', (error) => onError('an idle embedded bus session failed', error));
  const catalog = createTopicCatalog(pool, schema);
  const wakeups = createWakeups({
    connectionString: databaseUrl,
    schema,
    applicationName: `${clientId}:listen`.slice(0, 63),
    onError,
  });
  const members = new Set<GroupMember>();
  let closing: Promise<void> | undefined;
  let opened: Promise<void> | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;
  let sweeping: Promise<number> | undefined;

  const sweep = () => {
    sweeping ??= sweepRetention(pool, schema).finally(() => (sweeping = undefined));
    return sweeping;
  };

  const startSweeps = () => {
    const every = options.retentionSweepIntervalMs ?? 60_000;
    if (every <= 0 || sweepTimer) return;
    sweepTimer = setInterval(() => {
      sweep().catch((error) => onError('retention sweep failed', error));
    }, every);
    sweepTimer.unref();
  };

  /** The schema exists (created at first use) and the bus is open. */
  const open = async () => {
    if (closing) throw new EmbeddedBusClosedError();
    opened ??= ensureSchema(pool, schema).then(startSweeps, (error: unknown) => {
      opened = undefined;
      throw error;
    });
    await opened;
  };

  const publishBatch: Bus['publishBatch'] = async (batches) => {
    await open();
    await appendMessages(pool, schema, catalog, batches);
  };

  return {
    transport: 'embedded',
    schema,
    publish: (topic, messages) => publishBatch([{ topic, messages }]),
    publishBatch,

    async subscribe<P>(subscription: SubscribeOptions<P>): Promise<Subscription> {
      if (!subscription.groupId) throw new Error('subscribe needs a groupId');
      if (subscription.topics.length === 0) throw new Error('subscribe needs at least one topic');
      await open();
      await catalog.partitionsOf(subscription.topics);
      await wakeups.start();
      const member = new GroupMember({
        connectionString: databaseUrl,
        schema,
        clientId,
        subscription: { ...perPartition(subscription), topics: [...new Set(subscription.topics)] },
        catalog,
        wakeups,
        timing,
        maxBatchMessages: options.maxBatchMessages ?? 500,
        partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 1,
        pollIntervalMs: () => (wakeups.listening ? safetyPollIntervalMs : pollIntervalMs),
        onError,
        onStuckHandler: (stuck) => {
          stuckHandlers += 1;
          onStuckHandler(stuck);
        },
      });
      members.add(member);
      try {
        await member.join();
      } catch (error) {
        members.delete(member);
        throw error;
      }
      return {
        groupId: subscription.groupId,
        async stop() {
          members.delete(member);
          await member.stop();
        },
      };
    },

    async ensureTopics(topics) {
      await open();
      await catalog.ensure(topics, options.defaultRetentionMs ?? KAFKA_DEFAULT_RETENTION_MS);
    },

    async lag(groupId, topic) {
      await open();
      await catalog.partitionsOf([topic]);
      const s = `"${schema}"`;
      const { rows } = await pool.query<{
        partition: number;
        high: string;
        low: string | null;
        committed: string | null;
      }>(
        `select p.partition, p.next_offset as high,
                (select min(m."offset") from ${s}.messages m
                 where m.topic = p.topic and m.partition = p.partition) as low,
                c."offset" as committed
         from ${s}.partitions p
         left join ${s}.committed_offsets c
           on c.group_id = $1 and c.topic = p.topic and c.partition = p.partition
         where p.topic = $2
         order by p.partition`,
        [groupId, topic],
      );
      return rows.map((row) => {
        const high = BigInt(row.high);
        // Messages below the oldest kept one are gone: nobody can still have to process them.
        const low = row.low === null ? high : BigInt(row.low);
        const committed = row.committed === null ? low : BigInt(row.committed);
        const from = committed > low ? committed : low;
        return {
          partition: row.partition,
          committed: Number(from),
          end: Number(high),
          lag: Number(high - from),
        };
      });
    },

    async ready() {
      if (closing) return false;
      try {
        await pool.query('select 1');
        return true;
      } catch {
        return false;
      }
    },

    stuckHandlers: () => stuckHandlers,
    async sweepRetention() {
      await open();
      return sweep();
    },

    close() {
      closing ??= (async () => {
        clearInterval(sweepTimer);
        await Promise.allSettled([...members].map((member) => member.stop()));
        members.clear();
        await sweeping?.catch(() => undefined);
        await wakeups.close();
        await pool.end();
      })();
      return closing;
    },
  };
}
