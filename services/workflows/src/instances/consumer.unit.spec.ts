import { checkWorkflow, compileWorkflow } from '../definitions/compile';
import { buildActiveIndex } from './consumer';

const compiled = (workflowId: string, entry: Record<string, unknown>) => {
  const checked = checkWorkflow({
    name: workflowId,
    entry,
    start: 'wait',
    steps: [{ id: 'wait', kind: 'delay', duration: '1d' }],
  });
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  return compileWorkflow(workflowId, 1, checked.definition);
};

describe('the active index', () => {
  it('finds the workflows a segment-entered event enrolls by entry.segmentId', () => {
    const index = buildActiveIndex([
      compiled('vip-welcome', { segmentId: 'seg-vip' }),
      compiled('vip-upsell', { segmentId: 'seg-vip' }),
      compiled('on-signup', { event: 'signed_up' }),
    ]);
    expect(index.bySegment.get('seg-vip')!.map((w) => w.workflowId)).toEqual(['vip-welcome', 'vip-upsell']);
    expect(index.bySegment.get('seg-other')).toBeUndefined();
    expect(index.byEntry.get('signed_up')!.map((w) => w.workflowId)).toEqual(['on-signup']);
  });
});
