// A drip campaign's own stream, its audit trail: created, edited (each edit a new version),
// activated, paused, resumed, archived. Pure.
import { ConflictError, NotFoundError, type Decider } from '@cmis/platform';
import type { DripCampaign } from './campaign';

type Meta = { actor: string; at: string; correlationId?: string };
export type DripStatus = 'draft' | 'active' | 'paused' | 'archived';

export type CampaignCommand =
  | { type: 'CreateCampaign'; data: { dripId: string; campaign: DripCampaign }; metadata: Meta }
  | {
      type: 'UpdateCampaign';
      data: { dripId: string; campaign: DripCampaign; expectedVersion?: number };
      metadata: Meta;
    }
  | { type: 'SetStatus'; data: { dripId: string; to: 'active' | 'paused' | 'archived' }; metadata: Meta };

export type CampaignEvent =
  | {
      type: 'drip.campaign-created';
      data: { dripId: string; campaign: DripCampaign; version: 1 };
      metadata: Meta;
    }
  | {
      type: 'drip.campaign-updated';
      data: { dripId: string; campaign: DripCampaign; version: number };
      metadata: Meta;
    }
  | {
      type:
        | 'drip.campaign-activated'
        | 'drip.campaign-paused'
        | 'drip.campaign-resumed'
        | 'drip.campaign-archived';
      data: { dripId: string };
      metadata: Meta;
    };

export type CampaignState =
  | { status: 'absent' }
  | { status: DripStatus; version: number; campaign: DripCampaign; createdAt: string; updatedAt: string };

export class DripNotFoundError extends NotFoundError {
  constructor(readonly dripId: string) {
    super(`no drip ${dripId}`);
  }
}

export const campaignDecider: Decider<CampaignState, CampaignCommand, CampaignEvent> = {
  initialState: () => ({ status: 'absent' }),
  decide(command, state) {
    const { metadata } = command;
    if (command.type === 'CreateCampaign') {
      if (state.status !== 'absent') throw new ConflictError(`drip ${command.data.dripId} exists`);
      return [{ type: 'drip.campaign-created', data: { ...command.data, version: 1 }, metadata }];
    }
    if (state.status === 'absent') throw new DripNotFoundError(command.data.dripId);
    if (state.status === 'archived') throw new ConflictError(`drip ${command.data.dripId} is archived`);
    if (command.type === 'UpdateCampaign') {
      const { expectedVersion, ...data } = command.data;
      if (expectedVersion !== undefined && expectedVersion !== state.version)
        throw new ConflictError(`the drip is at version ${state.version}, not ${expectedVersion}`);
      return [{ type: 'drip.campaign-updated', data: { ...data, version: state.version + 1 }, metadata }];
    }
    const { to } = command.data;
    const { dripId } = command.data;
    if (to === 'archived') return [{ type: 'drip.campaign-archived', data: { dripId }, metadata }];
    if (to === 'paused') {
      if (state.status !== 'active')
        throw new ConflictError(`only an active drip can pause; it is ${state.status}`);
      return [{ type: 'drip.campaign-paused', data: { dripId }, metadata }];
    }
    if (state.status === 'active') return [];
    return [
      {
        type: state.status === 'paused' ? 'drip.campaign-resumed' : 'drip.campaign-activated',
        data: { dripId },
        metadata,
      },
    ];
  },
  evolve(state, event) {
    const at = event.metadata.at;
    switch (event.type) {
      case 'drip.campaign-created':
        return { status: 'draft', version: 1, campaign: event.data.campaign, createdAt: at, updatedAt: at };
      case 'drip.campaign-updated':
        return state.status === 'absent'
          ? state
          : { ...state, campaign: event.data.campaign, version: event.data.version, updatedAt: at };
      case 'drip.campaign-activated':
      case 'drip.campaign-resumed':
        return state.status === 'absent' ? state : { ...state, status: 'active', updatedAt: at };
      case 'drip.campaign-paused':
        return state.status === 'absent' ? state : { ...state, status: 'paused', updatedAt: at };
      case 'drip.campaign-archived':
        return state.status === 'absent' ? state : { ...state, status: 'archived', updatedAt: at };
    }
  },
};
