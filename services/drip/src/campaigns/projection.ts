// The `drips` and `drip_versions` read models as a rebuildable projection of the campaign
// streams: the command path writes them through `apply`, `cmis rebuild drip` refolds every stream
// through the same code.
import type { RebuildableProjection } from '@cmis/platform';
import { campaignDecider, type CampaignEvent, type CampaignState } from './definitions';

export const CAMPAIGN_STREAM = 'drip-campaign';

export const campaignsProjection: RebuildableProjection<CampaignState, CampaignEvent> = {
  name: 'campaigns',
  streamType: CAMPAIGN_STREAM,
  tables: ['drips', 'drip_versions'],
  evolver: campaignDecider,
  async apply(trx, { orgId, streamId: dripId, state, event }) {
    if (state.status === 'absent') return;
    const { campaign } = state;
    await trx('drips')
      .insert({
        org_id: orgId,
        drip_id: dripId,
        name: campaign.name,
        status: state.status,
        version: state.version,
        campaign: JSON.stringify(campaign),
        entry_event: campaign.entry.event ?? null,
        entry_identified: campaign.entry.identified ?? false,
        created_at: state.createdAt,
        updated_at: state.updatedAt,
      })
      .onConflict(['org_id', 'drip_id'])
      .merge(['name', 'status', 'version', 'campaign', 'entry_event', 'entry_identified', 'updated_at']);
    if (event.type !== 'drip.campaign-created' && event.type !== 'drip.campaign-updated') return;
    // A version never changes: one a concurrent command wrote meanwhile is the same row.
    await trx('drip_versions')
      .insert({
        org_id: orgId,
        drip_id: dripId,
        version: state.version,
        campaign: JSON.stringify(campaign),
        at: state.updatedAt,
      })
      .onConflict(['org_id', 'drip_id', 'version'])
      .ignore();
  },
};
