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

  describe('on varied snapshots', () => {
    const protoKey = () => JSON.parse('{"__proto__": {"polluted": 1}, "spend": 1}') as unknown;
    // zod's record drops a numeric `__proto__` metric: the output has one metric, or none.
    const protoMetric = () => JSON.parse('{"__proto__": 5, "spend": 1}') as unknown;
    const onlyProtoMetric = () => JSON.parse('{"__proto__": 5}') as unknown;
    const manyMetrics = () => Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`m${i}`, i]));
    const values: Record<string, unknown[]> = {
      entityType: ['campaign', 'ad_set', 'x', 'camp:aign', '', 7, 'a'.repeat(64), 'a'.repeat(65), 'ad.v2-x'],
      entityId: ['cmp-42', '', 'x'.repeat(256), 'x'.repeat(257), null, 3, 'é ✓'],
      metrics: [
        { spend: 1.5, ctr: 0.03 },
        { cpa: 60 },
        {},
        { spend: Infinity },
        { spend: NaN },
        { n: -0 },
        { spend: '1' },
        protoKey,
        protoMetric,
        onlyProtoMetric,
        manyMetrics,
        [],
        'x',
        null,
      ],
      timestamp: [
        undefined,
        null,
        '2025-06-01T13:00:00+02:00',
        '2025-06-01T11:00:00.123456Z',
        '2025-06-02T12:00:01Z',
        '2025-02-29T00:00:00Z',
        'yesterday',
        17,
      ],
      messageId: [undefined, null, 'm-1', '', 5, 'x'.repeat(257)],
    };
    // Deterministic: every run sees the same snapshots, most of them valid-looking.
    let state = 7;
    const next = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
    const pick = (list: unknown[], usual?: unknown): unknown => {
      if (usual !== undefined && next() < 0.5) return usual;
      const value = list[Math.floor(next() * list.length)]!;
      return typeof value === 'function' ? (value as () => unknown)() : value;
    };
    const snapshots = Array.from({ length: 3_000 }, () => {
      const snapshot: Record<string, unknown> = {
        entityType: pick(values.entityType!, 'campaign'),
        entityId: pick(values.entityId!, 'cmp-1'),
        metrics: pick(values.metrics!, { spend: 10, cpa: 55.5 }),
        timestamp: pick(values.timestamp!, '2025-06-01T11:00:00.000Z'),
        messageId: pick(values.messageId!, 'm-1'),
        extra: 'dropped',
      };
      for (const key of Object.keys(snapshot)) if (snapshot[key] === undefined) delete snapshot[key];
      return snapshot;
    });

    it('the fast path gives exactly the zod path result (output, errors and paths)', () => {
      let accepted = 0;
      for (const snapshot of snapshots) {
        const fast = parseSnapshot(snapshot, ctx, 'body.batch.2');
        const slow = parseSnapshot(snapshot, ctx, 'body.batch.2', false);
        expect({ snapshot, result: fast }).toEqual({ snapshot, result: slow });
        if (fast.ok) {
          accepted += 1;
          expect(JSON.stringify(fast.value)).toBe(JSON.stringify(slow.ok && slow.value));
        }
      }
      expect(accepted).toBeGreaterThan(500);
      expect(snapshots.length - accepted).toBeGreaterThan(500);
    });

    it('yields data that the topic payload schema accepts unchanged, marked validated', () => {
      for (const snapshot of snapshots) {
        const result = parseSnapshot(snapshot, ctx);
        if (!result.ok) continue;
        expect(isValidated(result.value)).toBe(true);
        const parsed = EntityMetricsObserved.safeParse(result.value.data);
        expect(parsed.success).toBe(true);
        expect(JSON.stringify(parsed.success && parsed.data)).toBe(JSON.stringify(result.value.data));
        expect(Object.keys(result.value.data)).toEqual(['entityType', 'entityId', 'metrics', 'observedAt']);
      }
    });
  });
});
