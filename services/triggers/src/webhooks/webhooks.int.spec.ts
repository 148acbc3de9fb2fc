import { randomUUID } from 'node:crypto';
import { userActionsTopic } from '@cmis/contracts';
import type { RunningServiceProcess } from '@cmis/platform';
import { client, createOrgWithSource, messagesNow, startTriggers, type TestOrg } from '../testing/support';
import { signatureOf } from './signature';

describe('signed inbound webhooks', () => {
  let proc: RunningServiceProcess;
  let org: TestOrg;

  beforeAll(async () => {
    proc = await startTriggers();
    org = await createOrgWithSource(proc.url);
  });
  afterAll(() => proc?.shutdown());

  const deliver = (payload: unknown, secret: string, id = `msg_${randomUUID()}`) => {
    const body = JSON.stringify(payload);
    const seconds = Math.floor(Date.now() / 1000);
    return fetch(`${proc.url}/v1/webhooks/${org.source.sourceId}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': String(seconds),
        'webhook-signature': `v1,${signatureOf(secret, id, seconds, body)}`,
      },
      body,
    });
  };

  it('maps a verified payload to a user action; a replayed webhook-id is accepted once', async () => {
    const user = `cus_${randomUUID()}`;
    const id = `msg_${randomUUID()}`;
    const payload = { type: 'invoice.paid', data: { userId: user, amount: 1200 } };
    expect((await deliver(payload, org.source.webhookSecret, id)).status).toBe(200);
    const replay = await deliver(payload, org.source.webhookSecret, id);
    expect(replay.status).toBe(409);
    expect(replay.headers.get('content-type')).toContain('application/problem+json');

    const published = await messagesNow(userActionsTopic.name, `${org.orgId}:${user}`);
    expect(published).toHaveLength(1);
    expect(published[0]!.envelope).toMatchObject({
      type: 'cmis.triggers.action-tracked',
      data: {
        userId: user,
        event: 'invoice.paid',
        properties: { userId: user, amount: 1200 },
        messageId: id,
      },
    });
  });

  it('accepts old and new secrets during a rotation, then only the new one after revoking the old', async () => {
    const call = client(proc.url);
    const rotated = await call('POST', `/v1/sources/${org.source.sourceId}/webhook-secrets`, {
      bearer: org.apiKey,
      body: { graceSeconds: 3600 },
    });
    expect(rotated.status).toBe(201);
    const { webhookSecret } = (await rotated.json()) as { webhookSecret: string };
    const payload = (user: string) => ({ type: 'signup', data: { userId: user } });

    expect((await deliver(payload('r1'), org.source.webhookSecret)).status).toBe(200);
    expect((await deliver(payload('r2'), webhookSecret)).status).toBe(200);

    const revoked = await call(
      'DELETE',
      `/v1/sources/${org.source.sourceId}/webhook-secrets/${org.source.webhookSecretId}`,
      {
        bearer: org.apiKey,
      },
    );
    expect(revoked.status).toBe(204);
    expect((await deliver(payload('r3'), org.source.webhookSecret)).status).toBe(401);
    expect((await deliver(payload('r4'), webhookSecret)).status).toBe(200);
  });

  it('follows the source mapping set through the management API', async () => {
    const call = client(proc.url);
    const mapped = await call('PUT', `/v1/sources/${org.source.sourceId}/mapping`, {
      bearer: org.apiKey,
      body: {
        event: { value: 'Payment Received' },
        userId: { path: 'customer.email' },
        properties: { path: 'payment' },
      },
    });
    expect(mapped.status).toBe(200);
    const email = `${randomUUID()}@example.com`;
    const rotated = (await (
      await call('POST', `/v1/sources/${org.source.sourceId}/webhook-secrets`, {
        bearer: org.apiKey,
        body: { graceSeconds: 0 },
      })
    ).json()) as { webhookSecret: string };
    expect(
      (await deliver({ customer: { email }, payment: { cents: 500 } }, rotated.webhookSecret)).status,
    ).toBe(200);
    const [message] = await messagesNow(userActionsTopic.name, `${org.orgId}:${email}`);
    expect(message?.envelope.data).toMatchObject({
      userId: email,
      event: 'Payment Received',
      properties: { cents: 500 },
    });
  });
});
