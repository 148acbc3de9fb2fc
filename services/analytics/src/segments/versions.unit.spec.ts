import { DeciderSpecification } from '@cmis/platform';
import { segmentDecider, SegmentNotFoundError } from './versions';

const meta = { actor: 'key:k', at: '2026-06-01T00:00:00.000Z' };
const segment = {
  name: 'Buyers',
  definition: { kind: 'performed' as const, event: 'Order Completed', atLeast: 1, withinDays: 30 },
};
const created = {
  type: 'analytics.segment-created' as const,
  data: { segmentId: 's', segment, version: 1 },
  metadata: meta,
};
const spec = DeciderSpecification.for(segmentDecider);

describe('segment versions', () => {
  it('creates version 1, and each change is the next version', () => {
    spec
      .given([])
      .when({ type: 'CreateSegment', data: { segmentId: 's', segment }, metadata: meta })
      .then([created]);
    spec
      .given([created])
      .when({
        type: 'ChangeSegment',
        data: { segmentId: 's', segment: { ...segment, name: 'B2' } },
        metadata: meta,
      })
      .then([
        {
          type: 'analytics.segment-changed',
          data: { segmentId: 's', segment: { ...segment, name: 'B2' }, version: 2 },
          metadata: meta,
        },
      ]);
  });

  it('refuses a change of a segment that does not exist, or at a stale version', () => {
    spec
      .given([])
      .when({ type: 'ChangeSegment', data: { segmentId: 's', segment }, metadata: meta })
      .thenThrows((e) => e instanceof SegmentNotFoundError);
    spec
      .given([created])
      .when({ type: 'ChangeSegment', data: { segmentId: 's', segment, expectedVersion: 3 }, metadata: meta })
      .thenThrows((e) => /version 1, not 3/.test((e as Error).message));
  });
});
