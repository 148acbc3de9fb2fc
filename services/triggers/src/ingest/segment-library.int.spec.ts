import { randomUUID } from 'node:crypto';
import { Analytics } from '@segment/analytics-node';
import { contactsTopic, userActionsTopic } from '@cmis/contracts';
import type { RunningServiceProcess } from '@cmis/platform';
import { createOrgWithSource, messagesNow, startTriggers, type TestOrg } from '../testing/support';

// Apps already on @segment/analytics-node point `host` at CMIS. The library posts every call to
// `${host}/v1/batch` (new URL(path, host): a host with a path prefix needs `path` as well).
describe('compatibility with @segment/analytics-node', () => {
  let proc: RunningServiceProcess;
  let org: TestOrg;

  beforeAll(async () => {
    proc = await startTriggers();
    org = await createOrgWithSource(proc.url);
  });
  afterAll(() => proc?.shutdown());

  it('lands every call type the library makes', async () => {
    const analytics = new Analytics({
      writeKey: org.source.writeKey,
      host: proc.url,
      flushAt: 1,
      maxRetries: 0,
    });
    const failures: unknown[] = [];
    analytics.on('error', (error) => failures.push(error));
    const userId = `seg-${randomUUID()}`;
    const anonymousId = `anon-${userId}`;
    const delivered = (call: (done: (err?: unknown) => void) => void) =>
      new Promise<void>((resolve, reject) => call((err) => (err ? reject(err) : resolve())));

    await delivered((done) =>
      analytics.track({ userId, event: 'Order Completed', properties: { revenue: 9.99 } }, done),
    );
    await delivered((done) => analytics.identify({ userId, traits: { email: 'seg@example.com' } }, done));
    await delivered((done) =>
      analytics.page(
        { anonymousId, name: 'Pricing', category: 'Docs', properties: { path: '/pricing' } },
        done,
      ),
    );
    await delivered((done) => analytics.screen({ userId, name: 'Home' }, done));
    await delivered((done) =>
      analytics.group({ userId, groupId: 'acme', traits: { plan: 'enterprise' } }, done),
    );
    await delivered((done) => analytics.alias({ userId, previousId: anonymousId }, done));
    await analytics.closeAndFlush();
    expect(failures).toEqual([]);

    const actions = await messagesNow(userActionsTopic.name, `${org.orgId}:`);
    const contacts = await messagesNow(contactsTopic.name, `${org.orgId}:`);
    expect(actions.map((m) => m.envelope.type).sort()).toEqual([
      'cmis.triggers.action-tracked',
      'cmis.triggers.page-viewed',
      'cmis.triggers.screen-viewed',
    ]);
    expect(contacts.map((m) => m.envelope.type).sort()).toEqual([
      'cmis.triggers.contact-aliased',
      'cmis.triggers.contact-grouped',
      'cmis.triggers.contact-identified',
    ]);
    const page = actions.find((m) => m.envelope.type === 'cmis.triggers.page-viewed')!;
    expect(page.key).toBe(`${org.orgId}:${anonymousId}`);
    expect(page.envelope.data).toMatchObject({
      name: 'Pricing',
      category: 'Docs',
      properties: { path: '/pricing' },
    });
    expect((page.envelope.data.context as { library?: { name?: string } }).library?.name).toBe(
      '@segment/analytics-node',
    );
  });
});
