import { parseSegmentBatch } from './batch';
import { parseCall } from './segment';

const receivedAt = new Date('2025-06-01T12:00:00Z');
const ctx = { sourceId: 'src_1', receivedAt, newMessageId: () => 'generated-id' };
const errorsOf = (result: { ok: boolean; errors?: Array<{ path: string }> }) =>
  result.ok ? [] : result.errors!.map((e) => e.path);

describe('Segment calls', () => {
  it('turns a track call into an action-tracked fact with defaults filled', () => {
    expect(
      parseCall('track', { userId: 'u1', event: 'Order Completed', integrations: { All: true } }, ctx),
    ).toEqual({
      ok: true,
      value: {
        topic: 'cmis.triggers.user-actions.v1',
        type: 'cmis.triggers.action-tracked',
        subject: 'u1',
        messageId: 'generated-id',
        time: '2025-06-01T12:00:00.000Z',
        data: {
          userId: 'u1',
          event: 'Order Completed',
          properties: {},
          context: {},
          messageId: 'generated-id',
          timestamp: '2025-06-01T12:00:00.000Z',
          sourceId: 'src_1',
        },
      },
    });
  });

  it('keys by anonymousId when there is no userId, and alias by its userId', () => {
    const page = parseCall('page', { anonymousId: 'a1', name: 'Home' }, ctx);
    expect(page.ok && page.value.subject).toBe('a1');
    const alias = parseCall('alias', { userId: 'u1', previousId: 'a1' }, ctx);
    expect(alias.ok && [alias.value.subject, alias.value.type]).toEqual([
      'u1',
      'cmis.triggers.contact-aliased',
    ]);
  });

  it('normalises timestamps to UTC and refuses unparseable ones or ones more than a day ahead', () => {
    const ok = parseCall('identify', { userId: 'u', timestamp: '2025-06-01T14:00:00+02:00' }, ctx);
    expect(ok.ok && ok.value.time).toBe('2025-06-01T12:00:00.000Z');
    expect(errorsOf(parseCall('identify', { userId: 'u', timestamp: 'last tuesday' }, ctx))).toEqual([
      'body.timestamp',
    ]);
    expect(errorsOf(parseCall('identify', { userId: 'u', timestamp: '2025-06-02T12:00:01Z' }, ctx))).toEqual([
      'body.timestamp',
    ]);
    expect(parseCall('identify', { userId: 'u', timestamp: '2025-06-02T11:59:59Z' }, ctx).ok).toBe(true);
  });

  it('names the field at fault: missing ids, missing event, wrong types', () => {
    expect(errorsOf(parseCall('track', { event: 'E' }, ctx))).toEqual(['body.userId']);
    expect(errorsOf(parseCall('track', { userId: 'u' }, ctx))).toEqual(['body.event']);
    expect(errorsOf(parseCall('track', { userId: 7, event: 'E' }, ctx))).toEqual(['body.userId']);
    expect(errorsOf(parseCall('identify', { userId: 'u', traits: ['a'] }, ctx))).toEqual(['body.traits']);
    expect(errorsOf(parseCall('group', { userId: 'u' }, ctx))).toEqual(['body.groupId']);
    expect(errorsOf(parseCall('alias', { previousId: 'a' }, ctx))).toEqual(['body.userId']);
  });

  it('refuses an event over 32 KB', () => {
    const big = { userId: 'u', event: 'E', properties: { blob: 'x'.repeat(33 * 1024) } };
    expect(errorsOf(parseCall('track', big, ctx))).toEqual(['body']);
  });
});

describe('Segment batches', () => {
  it('accepts the valid calls and reports the others by index, merging batch context under each call', () => {
    const result = parseSegmentBatch(
      {
        context: { library: { name: 'analytics-node' } },
        batch: [
          { type: 'track', userId: 'u', event: 'A', context: { ip: '1.2.3.4' } },
          'not a call',
          { type: 'wave', userId: 'u' },
          { type: 'identify', traits: {} },
          { type: 'screen', userId: 'u', name: 'Home' },
        ],
      },
      ctx,
    );
    if (!result.ok) throw new Error('expected a split');
    expect(result.split.accepted.map((a) => a.index)).toEqual([0, 4]);
    expect(result.split.accepted[0]!.value.data.context).toEqual({
      library: { name: 'analytics-node' },
      ip: '1.2.3.4',
    });
    expect(result.split.rejected).toEqual([
      { index: 1, errors: [{ path: 'body.batch.1', message: 'must be an object' }] },
      { index: 2, errors: [{ path: 'body.batch.2.type', message: expect.stringContaining('track') }] },
      { index: 3, errors: [{ path: 'body.batch.3.userId', message: 'userId or anonymousId is required' }] },
    ]);
  });

  it('refuses a batch envelope that is not one', () => {
    expect(errorsOf(parseSegmentBatch({}, ctx))).toEqual(['body.batch']);
    expect(errorsOf(parseSegmentBatch({ batch: [] }, ctx))).toEqual(['body.batch']);
    expect(errorsOf(parseSegmentBatch({ batch: 'x' }, ctx))).toEqual(['body.batch']);
  });
});
