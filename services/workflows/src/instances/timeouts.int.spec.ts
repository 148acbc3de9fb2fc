// A wait's timeout that comes due while workflows is down, with the awaited event (sent in time)
// still unread on the user-actions topic behind a backlog: on restart the timer poller fires at
// once while the consumer is still reading its way to the event. The timeout holds until the consumer has read
// the contact's partition through its deadline, so the order wins the wait and no reminder is
// requested. Real Kafka, registry, Postgres and Redis; the service stopped and started again as a
// new runtime on the same schema and consumer groups.
import { emailRequestsTopic, userActionsTopic } from '@cmis/contracts';
import { startServiceProcess, type RunningServiceProcess } from '@cmis/platform';
import { serviceProcessEnv, uniqueName, until, waitForMessages } from '@cmis/testkit';
import { createWorkflowsService } from '../service';
import { cart, trackMessage } from '../spec-support';
import { userActionsGroup } from './consumer';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;
const ADMIN_TOKEN = 'workflows-timeouts-admin-token-0123456789';
const TIMEOUT_S = 6;
const BACKLOG = 2_000;

describe('a wait timeout after downtime', () => {
  const serviceEnv = serviceProcessEnv(ADMIN_TOKEN);
  const name = uniqueName('workflows');
  const startWorkflows = () =>
    startServiceProcess(
      { service: name, httpPort: 0, create: createWorkflowsService({ timerIntervalMs: 100 }) },
      serviceEnv,
    );
  let workflows: RunningServiceProcess | undefined;
  // Publishes track calls while workflows is down: a process with no module of its own.
  let publisher: RunningServiceProcess;

  beforeAll(async () => {
    [workflows, publisher] = await Promise.all([
      startWorkflows(),
      startServiceProcess(
        { service: uniqueName('publisher'), httpPort: 0, create: () => ({ migrations: [] }) },
        serviceEnv,
      ),
    ]);
  });
  afterAll(async () => {
    await Promise.all([workflows?.shutdown(), publisher?.shutdown()]);
  });

  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await fetch(`${workflows!.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json };
  };

  const track = async (orgId: string, contactId: string, event: string, copies = 1, at?: Date) => {
    const messages = [];
    for (let i = 0; i < copies; i++) {
      messages.push((await trackMessage(publisher.platform.codec, { orgId, contactId, event, at })).message);
    }
    await publisher.platform.bus.publish(userActionsTopic.name, messages);
  };

  it('holds the timeout until the consumer has read the order sent in time: no reminder', async () => {
    const { orgId } = (await call('POST', '/admin/orgs', ADMIN_TOKEN, { name: uniqueName('org') })).body;
    const { key } = (
      await call('POST', `/admin/orgs/${orgId as string}/keys`, ADMIN_TOKEN, {
        scopes: ['workflows:read', 'workflows:write'],
      })
    ).body as { key: string };
    const created = await until(
      () => call('POST', '/v1/workflows', key, { ...cart(`${TIMEOUT_S}s`), goals: [] }),
      (r) => r.status !== 401,
    );
    expect(created.status).toBe(201);
    const workflowId = created.body.workflowId as string;
    expect((await call('POST', `/v1/workflows/${workflowId}/publish`, key)).status).toBe(201);
    const instanceOf = (contactId: string, ...statuses: string[]) =>
      until(
        () => call('GET', `/v1/workflows/${workflowId}/instances`, key),
        (r) =>
          (r.body.instances as Json[]).some((i) => i.contactId === contactId && statuses.includes(i.status)),
        { timeoutMs: 60_000 },
      ).then((r) => (r.body.instances as Json[]).find((i) => i.contactId === contactId)!);

    const contact = uniqueName('dee');
    // A new group reads the user-actions topic from its beginning, every other suite's track calls
    // too, and kafkajs fetches a partition again only once the whole fetch before is handled. Under
    // a loaded run that took longer than the wait's timeout, so the wait came due (and rightly
    // reminded) before workflows went down. Once the group has read every partition through its
    // present end, the abandon is read at once and its wait is still open when workflows stops.
    const lag = () => publisher.platform.bus.lag(userActionsGroup(name), userActionsTopic.name);
    const ends = new Map((await lag()).map((p) => [p.partition, p.end]));
    await until(lag, (parts) => parts.every((p) => p.committed >= (ends.get(p.partition) ?? 0)), {
      timeoutMs: 120_000,
    });
    const abandonedAt = Date.now();
    await track(orgId as string, contact, 'cart_abandoned', 1, new Date(abandonedAt));
    await instanceOf(contact, 'waiting');

    // Down before the order comes, and still down when the wait's deadline passes.
    await workflows!.shutdown();
    workflows = undefined;
    const deadline = abandonedAt + TIMEOUT_S * 1_000;
    // The case under test: the wait comes due while workflows is down, not before.
    expect(Date.now()).toBeLessThan(deadline);
    // Ahead of the order on its partition, a backlog the restarted consumer needs a while for.
    await track(orgId as string, contact, 'page_viewed', BACKLOG);
    // Ordered in time: the wait's window is the abandon's event time plus the timeout, and under
    // a loaded run the wall clock may already be past it here, so the order says when it happened.
    const orderedAt = new Date(Math.min(Date.now(), abandonedAt + 1_000));
    await track(orgId as string, contact, 'order_completed', 1, orderedAt);
    await new Promise((r) => setTimeout(r, Math.max(0, deadline + 1_000 - Date.now())));
    workflows = await startWorkflows();

    // Without the hold the reminder path wins and the instance ends 'completed'.
    const ended = await instanceOf(contact, 'exited', 'completed');
    expect(ended).toMatchObject({ status: 'exited', lastError: 'ordered' });
    const history = await call('GET', `/v1/contacts/${contact}/history?workflowId=${workflowId}`, key);
    const waits = (history.body.decisions as Json[]).filter((d) => d.kind === 'wait_event');
    expect(waits.map((d) => d.outcome)).toEqual(['received']);
    // The order ended the wait and cancelled the held timer: no reminder was requested.
    const reminders = await waitForMessages({
      topic: emailRequestsTopic.name,
      count: 1,
      predicate: (m) => m.key === `${orgId as string}:${contact}`,
      timeoutMs: 3_000,
    }).catch(() => []);
    expect(reminders).toHaveLength(0);
  }, 240_000);
});
