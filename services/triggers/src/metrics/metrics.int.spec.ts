import { entityMetricsTopic } from '@cmis/contracts';
import type { RunningServiceProcess } from '@cmis/platform';
import { client, createOrgWithSource, messagesNow, startTriggers, type TestOrg } from '../testing/support';

describe('entity metrics over HTTP', () => {
  let proc: RunningServiceProcess;
  let org: TestOrg;

  beforeAll(async () => {
    proc = await startTriggers();
    org = await createOrgWithSource(proc.url);
  });
  afterAll(() => proc?.shutdown());

  it('publishes snapshots keyed <orgId>:<entityType>:<entityId>, a resent one once, invalid ones reported', async () => {
    const send = (body: unknown) =>
      client(proc.url)('POST', '/v1/metrics', { writeKey: org.source.writeKey, body });
    const snapshot = {
      entityType: 'campaign',
      entityId: 'cmp-42',
      metrics: { spend: 120.5, impressions: 10_000, clicks: 300, conversions: 12, cpa: 10.04, ctr: 0.03 },
      timestamp: new Date(Date.now() - 60_000).toISOString(),
    };
    const single = await send(snapshot);
    expect(single.status).toBe(200);
    const batch = await send({
      batch: [
        snapshot,
        { entityType: 'ad', entityId: 'ad-7', metrics: { clicks: 4 } },
        { entityType: 'ad', metrics: {} },
      ],
    });
    expect(await batch.json()).toMatchObject({
      accepted: 2,
      duplicates: 1,
      rejected: [{ index: 2, errors: [{ path: 'body.batch.2.entityId' }, { path: 'body.batch.2.metrics' }] }],
    });

    const published = await messagesNow(entityMetricsTopic.name, `${org.orgId}:`);
    expect(published.map((m) => m.key).sort()).toEqual([
      `${org.orgId}:ad:ad-7`,
      `${org.orgId}:campaign:cmp-42`,
    ]);
    const campaign = published.find((m) => m.key.endsWith('campaign:cmp-42'))!;
    expect(campaign.envelope).toMatchObject({
      type: 'cmis.triggers.entity-metrics-observed',
      subject: 'campaign:cmp-42',
      data: { entityType: 'campaign', entityId: 'cmp-42', metrics: snapshot.metrics },
    });
  });
});
