// Rebuilding an org's projections: its rows are deleted, then a replay reads every projected
// topic from the beginning under fresh consumer groups, skipping other orgs' keys before
// decoding (keys lead with the org id), and applies the org's events with the live projections'
// own code. Rows are keyed by event id, so the live consumers keep running meanwhile: whatever
// either writes, the other's insert ignores. What the topics no longer retain (user actions 90
// days, entity metrics 30 days, ...) cannot come back. The replay stops once its groups have no
// lag; its state is kept in this process only.
import { randomUUID } from 'node:crypto';
import { startInbox, withOrg, type ServiceRuntime, type Subscription } from '@cmis/platform';
import { applyProjection, PROJECTIONS } from './consumer';
import { PROJECTION_TABLES } from './migrations';

export interface RebuildStatus {
  rebuildId: string;
  orgId: string;
  status: 'running' | 'done' | 'failed';
  startedAt: string;
  finishedAt?: string;
  error?: string;
}

const LAG_POLL_MS = 500;
const MAX_REBUILD_MS = 60 * 60_000;

export function createRebuilder(rt: ServiceRuntime, now: () => Date) {
  const rebuilds = new Map<string, RebuildStatus>();
  const running = new Set<Subscription>();
  let stopped = false;

  async function replay(status: RebuildStatus): Promise<void> {
    const subs: Array<{ sub: Subscription; topics: string[] }> = [];
    try {
      for (const p of PROJECTIONS) {
        const sub = await startInbox({
          bus: rt.bus,
          db: rt.db,
          codec: rt.codec,
          groupId: `${rt.name}.projections.rebuild.${status.rebuildId}.${p.name}`,
          topics: p.topics,
          concerns: (m) => m.key === null || m.key.startsWith(`${status.orgId}:`),
          apply: async (events, context) => {
            if (context.orgId === status.orgId) await applyProjection(p)(events, context);
          },
        });
        running.add(sub);
        subs.push({ sub, topics: p.topics });
      }
      const deadline = Date.now() + MAX_REBUILD_MS;
      for (;;) {
        if (stopped) throw new Error('the service stopped during the rebuild');
        let lag = 0;
        for (const { sub, topics } of subs)
          for (const topic of topics)
            for (const p of await rt.bus.lag(sub.groupId, topic)) lag += Math.max(0, p.lag);
        if (lag === 0) break;
        if (Date.now() > deadline) throw new Error('the replay did not catch up within an hour');
        await new Promise((r) => setTimeout(r, LAG_POLL_MS));
      }
      status.status = 'done';
    } catch (error) {
      status.status = 'failed';
      status.error = error instanceof Error ? error.message : String(error);
      rt.logger.error({ err: error, rebuildId: status.rebuildId }, 'projection rebuild failed');
    } finally {
      status.finishedAt = now().toISOString();
      for (const { sub } of subs) {
        running.delete(sub);
        await sub.stop().catch(() => undefined);
      }
    }
  }

  return {
    /** Deletes the org's rows (in one transaction) and starts the replay; resolves once deleted. */
    async start(orgId: string): Promise<RebuildStatus> {
      await withOrg(rt.db.app, orgId, async (trx) => {
        for (const table of PROJECTION_TABLES) await trx(table).where({ org_id: orgId }).delete();
      });
      const status: RebuildStatus = {
        rebuildId: randomUUID(),
        orgId,
        status: 'running',
        startedAt: now().toISOString(),
      };
      rebuilds.set(status.rebuildId, status);
      void replay(status);
      return status;
    },
    get(orgId: string, rebuildId: string): RebuildStatus | undefined {
      const s = rebuilds.get(rebuildId);
      return s && s.orgId === orgId ? s : undefined;
    },
    async stop(): Promise<void> {
      stopped = true;
      await Promise.allSettled([...running].map((s) => s.stop()));
    },
  };
}
export type Rebuilder = ReturnType<typeof createRebuilder>;
