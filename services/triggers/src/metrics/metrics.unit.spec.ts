import { EntityMetricsObserved } from '@cmis/contracts';
import { isValidated } from '../shared/fact';
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

  it('yields data that the topic payload schema accepts unchanged, marked validated', () => {
    const protoKey = () => JSON.parse('{"__proto__": {"polluted": 1}, "spend": 1}') as unknown;
    const values = {
      entityType: ['campaign', 'ad_set', 'x', 'camp:aign', '', 7, 'a'.repeat(64), 'a'.repeat(65)],
      entityId: ['cmp-42', '', 'x'.repeat(256), 'x'.repeat(257), null, 3],
      metrics: [{ spend: 1.5, ctr: 0.03 }, {}, { spend: Infinity }, { n: -0 }, protoKey, [], 'x', null],
      timestamp: [undefined, null, '2025-06-01T13:00:00+02:00', '2025-06-01T11:00:00.123456Z', 'yesterday'],
      messageId: [undefined, null, 'm-1', '', 5],
    };
    let accepted = 0;
    let n = 0;
    const pick = <T>(list: T[]): T => {
      const value = list[n++ % list.length]!;
      return (typeof value === 'function' ? (value as () => T)() : value) as T;
    };
    for (let i = 0; i < 2_000; i++) {
      n = i * 7 + (i % 13);
      const snapshot = {
        entityType: pick(values.entityType),
        entityId: pick(values.entityId),
        metrics: pick(values.metrics),
        timestamp: pick(values.timestamp),
        messageId: pick(values.messageId),
      };
      const result = parseSnapshot(snapshot, ctx);
      if (!result.ok) continue;
      accepted += 1;
      expect(isValidated(result.value)).toBe(true);
      const parsed = EntityMetricsObserved.safeParse(result.value.data);
      expect(parsed.success).toBe(true);
      expect(JSON.stringify(parsed.success && parsed.data)).toBe(JSON.stringify(result.value.data));
      expect(Object.keys(result.value.data)).toEqual(['entityType', 'entityId', 'metrics', 'observedAt']);
    }
    expect(accepted).toBeGreaterThan(50);
  });
});
