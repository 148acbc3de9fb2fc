import { parseMetricsBody, parseSnapshot } from './metrics';

const ctx = { receivedAt: new Date('2025-06-01T12:00:00Z'), newMessageId: () => 'generated' };

describe('entity metric snapshots', () => {
  it('keys a snapshot by <entityType>:<entityId> and dedupes it by what and when it measured', () => {
    const result = parseSnapshot(
      {
        entityType: 'campaign',
        entityId: 'cmp-42',
        metrics: { spend: 120.5, clicks: 300, ctr: 0.031 },
        timestamp: '2025-06-01T11:00:00Z',
      },
      ctx,
    );
    expect(result).toEqual({
      ok: true,
      value: {
        topic: 'cmis.triggers.entity-metrics.v1',
        type: 'cmis.triggers.entity-metrics-observed',
        subject: 'campaign:cmp-42',
        messageId: 'metrics:campaign:cmp-42:2025-06-01T11:00:00.000Z',
        time: '2025-06-01T11:00:00.000Z',
        data: {
          entityType: 'campaign',
          entityId: 'cmp-42',
          metrics: { spend: 120.5, clicks: 300, ctr: 0.031 },
          observedAt: '2025-06-01T11:00:00.000Z',
        },
      },
    });
  });

  it('names the field at fault', () => {
    const paths = (body: unknown) => {
      const r = parseMetricsBody(body, ctx);
      return r.ok
        ? r.split.rejected.flatMap((x) => x.errors.map((e) => e.path))
        : r.errors.map((e) => e.path);
    };
    expect(paths({ entityType: 'campaign', entityId: 'c', metrics: { spend: 'a lot' } })).toEqual([
      'body.metrics.spend',
    ]);
    expect(paths({ entityType: 'camp:aign', entityId: 'c', metrics: { spend: 1 } })).toEqual([
      'body.entityType',
    ]);
    expect(paths({ entityType: 'campaign', metrics: { spend: 1 } })).toEqual(['body.entityId']);
    expect(paths({ entityType: 'campaign', entityId: 'c', metrics: {} })).toEqual(['body.metrics']);
    expect(
      paths({ batch: [{ entityType: 'ad', entityId: 'a', metrics: { clicks: 1 } }, { entityType: 'ad' }] }),
    ).toEqual(['body.batch.1.entityId', 'body.batch.1.metrics']);
  });
});
