import { createHmac } from 'node:crypto';
import { newWebhookSecret, signWebhook, webhookHeaders } from './signature';

describe('Standard Webhooks signature', () => {
  // The example of the Standard Webhooks specification's reference libraries.
  it('matches the reference vector', () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const id = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
    const body = '{"test": 2432232314}';
    expect(signWebhook(secret, id, 1614265330, body)).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('signs id.timestamp.body with the decoded secret, and changes with each part', () => {
    const secret = newWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    const key = Buffer.from(secret.slice(6), 'base64');
    const expected = createHmac('sha256', key).update('a1.1700000000.{}').digest('base64');
    const headers = webhookHeaders(secret, 'a1', new Date(1_700_000_000_500), '{}');
    expect(headers).toEqual({
      'webhook-id': 'a1',
      'webhook-timestamp': '1700000000',
      'webhook-signature': `v1,${expected}`,
    });
    expect(signWebhook(secret, 'a2', 1700000000, '{}')).not.toBe(headers['webhook-signature']);
    expect(signWebhook(secret, 'a1', 1700000001, '{}')).not.toBe(headers['webhook-signature']);
    expect(signWebhook(secret, 'a1', 1700000000, '{ }')).not.toBe(headers['webhook-signature']);
  });
});
