// Analytics decides a broadcast's A/B test before the broadcast's own window ends: the rest of
// the audience gets the analytics winner at once.
import { analyticsDecisionsTopic, type ExperimentDecided } from '@cmis/contracts';
import type { RunningServiceProcess } from '@cmis/platform';
import { uniqueName } from '@cmis/testkit';
import { client, newOrg, publish, startEmail, startSmtpSink, until, type SmtpSink } from '../testing/support';

describe('experiment decisions from analytics', () => {
  let sink: SmtpSink;
  let proc: RunningServiceProcess;
  let call: ReturnType<typeof client>;

  beforeAll(async () => {
    sink = await startSmtpSink();
    proc = await startEmail(sink);
    call = client(proc.url);
  });
  afterAll(async () => {
    await proc?.shutdown();
    await sink?.close();
  });

  it("sends the rest of a testing broadcast analytics' winner at once", async () => {
    const { orgId, key } = await newOrg(proc);
    const tag = uniqueName('decided');
    const addresses = Array.from({ length: 40 }, (_, i) => `${tag}-${i}@example.com`);
    const audienceId = (
      await call('POST', '/v1/audiences', {
        bearer: key,
        body: { name: 'spec list', members: addresses.map((address) => ({ address })) },
      })
    ).body.audienceId as string;
    const created = await call('POST', '/v1/broadcasts', {
      bearer: key,
      body: {
        name: 'Winter sale',
        audienceId,
        content: { kind: 'inline', subject: 'Sale', html: '<p>Sale</p>' },
        abTest: {
          variants: [
            { variantId: 'a', subject: 'Winter sale' },
            { variantId: 'b', subject: 'Our winter sale starts now' },
          ],
          testShare: 0.5,
          // The broadcast's own decision would come an hour later.
          decideAfterMinutes: 60,
          metric: 'clicks',
          minSamplePerVariant: 5,
        },
      },
    });
    expect(created.status).toBe(201);
    const id = created.body.broadcastId as string;
    await call('POST', `/v1/broadcasts/${id}/start`, { bearer: key });
    const broadcast = async () => (await call('GET', `/v1/broadcasts/${id}`, { bearer: key })).body;
    const testing = await until(
      broadcast,
      (b) => b.status === 'testing' && (b.messages.sent ?? 0) === b.requested,
      {
        timeoutMs: 20_000,
      },
    );
    const testShare = testing.requested as number;

    const decision = (winnerVariantId: string): ExperimentDecided => ({
      experimentId: id,
      kind: 'email',
      winnerVariantId,
      metric: 'conversions',
      test: 'two-proportion z',
      pValue: 0.001,
      confidence: 0.95,
      variants: [
        { variantId: 'a', exposed: 10, conversions: 1, rate: 0.1, low: 0.02, high: 0.4 },
        { variantId: 'b', exposed: 10, conversions: 8, rate: 0.8, low: 0.49, high: 0.94 },
      ],
    });
    await publish(
      proc,
      analyticsDecisionsTopic.name,
      orgId,
      id,
      'cmis.analytics.experiment-decided',
      decision('b'),
    );

    const done = await until(broadcast, (b) => b.status === 'completed', { timeoutMs: 30_000 });
    expect(done.winnerVariantId).toBe('b');
    expect(done.requested).toBe(40);
    const ofTag = () => sink.received.filter((m) => m.recipients[0]!.startsWith(tag));
    await until(
      () => Promise.resolve(ofTag().length),
      (n) => n === 40,
    );
    const rest = ofTag().slice(testShare);
    expect(rest.length).toBe(40 - testShare);
    expect(new Set(rest.map((m) => m.parsed.subject))).toEqual(new Set(['Our winter sale starts now']));
  });
});
