// A segment's own stream: created, then each change a new version. Pure.
import { ConflictError, NotFoundError, type Decider } from '@cmis/platform';
import type { SegmentInput } from './definition';

type Meta = { actor: string; at: string; correlationId?: string };

export type SegmentCommand =
  | { type: 'CreateSegment'; data: { segmentId: string; segment: SegmentInput }; metadata: Meta }
  | {
      type: 'ChangeSegment';
      data: { segmentId: string; segment: SegmentInput; expectedVersion?: number };
      metadata: Meta;
    };

export type SegmentEvent = {
  type: 'analytics.segment-created' | 'analytics.segment-changed';
  data: { segmentId: string; segment: SegmentInput; version: number };
  metadata: Meta;
};

export type SegmentState =
  | { status: 'absent' }
  | { status: 'defined'; version: number; segment: SegmentInput; createdAt: string; updatedAt: string };

export class SegmentNotFoundError extends NotFoundError {
  constructor(readonly segmentId: string) {
    super(`no segment ${segmentId}`);
  }
}

export const segmentDecider: Decider<SegmentState, SegmentCommand, SegmentEvent> = {
  initialState: () => ({ status: 'absent' }),
  decide(command, state) {
    const { metadata } = command;
    switch (command.type) {
      case 'CreateSegment':
        if (state.status !== 'absent') throw new ConflictError(`segment ${command.data.segmentId} exists`);
        return [{ type: 'analytics.segment-created', data: { ...command.data, version: 1 }, metadata }];
      case 'ChangeSegment': {
        if (state.status === 'absent') throw new SegmentNotFoundError(command.data.segmentId);
        const { expectedVersion, ...data } = command.data;
        if (expectedVersion !== undefined && expectedVersion !== state.version)
          throw new ConflictError(`the segment is at version ${state.version}, not ${expectedVersion}`);
        return [
          { type: 'analytics.segment-changed', data: { ...data, version: state.version + 1 }, metadata },
        ];
      }
      default: {
        const never: never = command;
        throw new Error(`unknown command ${JSON.stringify(never)}`);
      }
    }
  },
  evolve(state, event) {
    const at = event.metadata.at;
    switch (event.type) {
      case 'analytics.segment-created':
        return { status: 'defined', version: 1, segment: event.data.segment, createdAt: at, updatedAt: at };
      case 'analytics.segment-changed':
        return state.status === 'absent'
          ? state
          : { ...state, segment: event.data.segment, version: event.data.version, updatedAt: at };
      default: {
        const never: never = event.type;
        throw new Error(`unknown event ${String(never)}`);
      }
    }
  },
};
