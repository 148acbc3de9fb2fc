// Runs campaign commands on the event store and keeps the read models in the same transaction.
// The org's campaigns, compiled, are cached per process; the API invalidates them (across replicas)
// after each change commits.
import { compileCondition, outcomeName, type Condition, type TraceEntry } from '@cmis/conditions';
import {
  handleCommand,
  projectAppended,
  withOrg,
  type InvalidatingCache,
  type ServiceRuntime,
} from '@cmis/platform';
import type { Knex } from 'knex';
import type { CompiledCampaign } from '../subscriptions/progress';
import type { DripCampaign } from './campaign';
import { campaignDecider, type CampaignCommand, type CampaignState } from './definitions';
import { CAMPAIGN_STREAM, campaignsProjection } from './projection';

export { CAMPAIGN_STREAM } from './projection';

export interface StoredDrip {
  dripId: string;
  name: string;
  status: string;
  version: number;
  campaign: DripCampaign;
  createdAt: Date;
  updatedAt: Date;
}

/** The org's campaigns by id, compiled (current version), with what their entries listen to. */
export interface OrgCampaigns {
  byId: Map<string, CompiledCampaign & { status: string }>;
  byEntryEvent: Map<string, (CompiledCampaign & { status: string })[]>;
  onIdentify: (CompiledCampaign & { status: string })[];
  /** Active campaigns by entry.segmentId (enrolled on segment-entered). */
  byEntrySegment: Map<string, (CompiledCampaign & { status: string })[]>;
}

const toDrip = (r: Record<string, unknown>): StoredDrip => ({
  dripId: r.drip_id as string,
  name: r.name as string,
  status: r.status as string,
  version: r.version as number,
  campaign: r.campaign as DripCampaign,
  createdAt: r.created_at as Date,
  updatedAt: r.updated_at as Date,
});

export function compileCampaign(
  dripId: string,
  version: number,
  campaign: DripCampaign,
  status: string,
): CompiledCampaign & { status: string } {
  const skips = new Map(
    campaign.steps
      .filter((s) => s.skipIf)
      .map((s) => [s.id, compileCondition(s.skipIf as Condition, `steps.${s.id}.skipIf`)]),
  );
  const filters = new Map<string, ReturnType<typeof compileCondition>>();
  if (campaign.entry.filter)
    filters.set('entry', compileCondition(campaign.entry.filter as Condition, 'entry.filter'));
  if (campaign.goal?.filter)
    filters.set('goal', compileCondition(campaign.goal.filter as Condition, 'goal.filter'));
  campaign.exits.forEach(
    (e, i) =>
      e.filter && filters.set(`exit.${i}`, compileCondition(e.filter as Condition, `exits.${i}.filter`)),
  );
  return {
    dripId,
    version,
    campaign,
    status,
    paused: status === 'paused',
    skips(step, ctx) {
      const condition = skips.get(step.id);
      if (!condition) return { skip: false, trace: [] };
      const trace: TraceEntry[] = [];
      return { skip: outcomeName(condition.explain(ctx, trace)) === 'passed', trace };
    },
    matches(ref: string, ctx: { event?: Record<string, unknown>; contact?: Record<string, unknown> }) {
      const condition = filters.get(ref);
      return condition ? outcomeName(condition.test(ctx)) === 'passed' : true;
    },
  } as CompiledCampaign & { status: string };
}

export type Matching = CompiledCampaign & {
  status: string;
  matches(ref: string, ctx: { event?: Record<string, unknown>; contact?: Record<string, unknown> }): boolean;
};

export function createCampaignStore(rt: ServiceRuntime) {
  const campaigns: InvalidatingCache<OrgCampaigns> = rt.redis.invalidatingCache<OrgCampaigns>({
    name: `${rt.name}.campaigns`,
    ttlMs: 5 * 60_000,
    loader: (orgId) =>
      withOrg(rt.db.app, orgId, async (trx) => {
        const rows = (await trx('drips').whereIn('status', ['active', 'paused'])).map(toDrip);
        const byId = new Map(
          rows.map((d) => [d.dripId, compileCampaign(d.dripId, d.version, d.campaign, d.status)]),
        );
        const active = [...byId.values()].filter((c) => c.status === 'active');
        const byEntryEvent = new Map<string, (CompiledCampaign & { status: string })[]>();
        const byEntrySegment = new Map<string, (CompiledCampaign & { status: string })[]>();
        for (const c of active) {
          const name = c.campaign.entry.event;
          if (name) byEntryEvent.set(name, [...(byEntryEvent.get(name) ?? []), c]);
          const segmentId = c.campaign.entry.segmentId;
          if (segmentId) byEntrySegment.set(segmentId, [...(byEntrySegment.get(segmentId) ?? []), c]);
        }
        return {
          byId,
          byEntryEvent,
          onIdentify: active.filter((c) => c.campaign.entry.identified),
          byEntrySegment,
        };
      }),
  });

  return {
    campaigns,
    async execute(trx: Knex.Transaction, orgId: string, command: CampaignCommand): Promise<CampaignState> {
      const { newState, newEvents } = await handleCommand(
        rt.eventStore,
        trx,
        campaignDecider,
        { orgId, streamType: CAMPAIGN_STREAM, streamId: command.data.dripId },
        command,
        { now: () => new Date(command.metadata.at) },
      );
      if (newState.status === 'absent' || newEvents.length === 0) return newState;
      await projectAppended(trx, campaignsProjection, {
        orgId,
        streamId: command.data.dripId,
        state: newState,
        events: newEvents,
      });
      return newState;
    },
    async get(trx: Knex.Transaction, dripId: string): Promise<StoredDrip | undefined> {
      const row = await trx('drips').where({ drip_id: dripId }).first();
      return row ? toDrip(row) : undefined;
    },
    async list(trx: Knex.Transaction): Promise<StoredDrip[]> {
      return (await trx('drips').orderBy('created_at')).map(toDrip);
    },
  };
}
export type CampaignStore = ReturnType<typeof createCampaignStore>;
