import { EmailRequested } from '@cmis/contracts';
import { notificationEmails } from './notification';

describe('email notifications of a rule', () => {
  const ref = { ruleId: 'rule-1', version: 3, actionId: 'a1b2' };

  it('is one email request per address, keyed by the action and the place of the recipient', () => {
    const requests = notificationEmails(
      {
        kind: 'send_notification',
        channel: 'email',
        recipients: ['manager@example.com', 'not an address', 'ops@example.com'],
        title: 'Campaign cmp-1 paused',
        message: 'CPA 55 is above {{ 50 }}; see {% the dashboard',
      },
      ref,
    );
    expect(requests.map((r) => [r.idempotencyKey, r.to])).toEqual([
      ['rule-action:a1b2:0', { kind: 'address', address: 'manager@example.com' }],
      ['rule-action:a1b2:2', { kind: 'address', address: 'ops@example.com' }],
    ]);
    for (const request of requests) expect(EmailRequested.parse(request)).toEqual(request);
    expect(requests[0]).toMatchObject({
      transactional: true,
      origin: { kind: 'rule', id: 'rule-1', version: 3, stepId: '0', instanceId: 'a1b2' },
      content: {
        kind: 'inline',
        subject: '{% raw %}Campaign cmp-1 paused{% endraw %}',
        text: '{% raw %}CPA 55 is above {{ 50 }}; see { % the dashboard{% endraw %}',
      },
    });
  });
});
