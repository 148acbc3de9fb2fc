import { randomBytes } from 'node:crypto';
import { signatureOf, TOLERANCE_SECONDS, verifyWebhook } from './signature';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
const other = `whsec_${randomBytes(32).toString('base64')}`;
const now = new Date('2025-06-01T12:00:00Z');
const ts = String(now.getTime() / 1000);
const body = JSON.stringify({ type: 'invoice.paid', data: { userId: 'u-1' } });
const signed = (s = secret, id = 'msg_1', t = ts, b = body) => `v1,${signatureOf(s, id, t, b)}`;
const headers = (signature: string, t = ts, id = 'msg_1') => ({
  'webhook-id': id,
  'webhook-timestamp': t,
  'webhook-signature': signature,
});

describe('Standard Webhooks verification', () => {
  it('accepts a signature made with the secret over id.timestamp.body', () => {
    expect(verifyWebhook(headers(signed()), body, [secret], now)).toEqual({
      ok: true,
      id: 'msg_1',
      timestamp: now,
    });
  });

  it('matches the Standard Webhooks reference vector', () => {
    // From the standard-webhooks spec test suite (libraries/javascript).
    const vectorSecret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const sig = signatureOf(vectorSecret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}');
    expect(sig).toBe('g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('accepts any v1 signature of a space-separated list, and any live secret (rotation)', () => {
    const list = `v1,${Buffer.from('nope').toString('base64')} ${signed(other)}`;
    expect(verifyWebhook(headers(list), body, [secret, other], now).ok).toBe(true);
    expect(verifyWebhook(headers(signed(other)), body, [secret], now)).toMatchObject({
      ok: false,
      header: 'webhook-signature',
    });
  });

  it('refuses a changed body, id or timestamp', () => {
    expect(verifyWebhook(headers(signed()), body.replace('u-1', 'u-2'), [secret], now).ok).toBe(false);
    expect(verifyWebhook(headers(signed(), ts, 'msg_2'), body, [secret], now).ok).toBe(false);
    const later = String(Number(ts) + 1);
    expect(verifyWebhook(headers(signed(), later), body, [secret], now).ok).toBe(false);
  });

  it('refuses timestamps beyond the 5-minute tolerance either way', () => {
    const stale = String(Number(ts) - TOLERANCE_SECONDS - 1);
    const early = String(Number(ts) + TOLERANCE_SECONDS + 1);
    expect(verifyWebhook(headers(signed(secret, 'msg_1', stale), stale), body, [secret], now)).toMatchObject({
      ok: false,
      header: 'webhook-timestamp',
    });
    expect(verifyWebhook(headers(signed(secret, 'msg_1', early), early), body, [secret], now).ok).toBe(false);
    const edge = String(Number(ts) - TOLERANCE_SECONDS);
    expect(verifyWebhook(headers(signed(secret, 'msg_1', edge), edge), body, [secret], now).ok).toBe(true);
  });

  it('names the header at fault when one is missing or malformed', () => {
    expect(
      verifyWebhook({ 'webhook-timestamp': ts, 'webhook-signature': signed() }, body, [secret], now),
    ).toMatchObject({
      header: 'webhook-id',
    });
    expect(verifyWebhook(headers(signed(), 'soon'), body, [secret], now)).toMatchObject({
      header: 'webhook-timestamp',
    });
    expect(verifyWebhook(headers('v2,abc'), body, [secret], now)).toMatchObject({
      header: 'webhook-signature',
    });
    expect(verifyWebhook(headers(signed()), body, [], now)).toMatchObject({
      ok: false,
      header: 'webhook-signature',
    });
  });
});
