import { createHmac } from 'node:crypto';
import { signTrackingToken, TrackingClaimError, verifyTrackingToken, type TrackingClaim } from './token';

const secret = 'tracking-secret-0123456789';
const orgId = '3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b';
const messageId = '0123456789abcdef0123456789abcdef';
const click: TrackingClaim = { purpose: 'click', orgId, messageId, linkIndex: 3 };

describe('tracking tokens', () => {
  it.each<TrackingClaim>([
    { purpose: 'open', orgId, messageId },
    { purpose: 'click', orgId, messageId, linkIndex: 0 },
    { purpose: 'click', orgId, messageId, linkIndex: 65534 },
    { purpose: 'unsubscribe', orgId, messageId },
    { purpose: 'preferences', orgId, messageId },
  ])('carry their claim: $purpose, link $linkIndex', (claim) => {
    const token = signTrackingToken(secret, claim);
    expect(token).toMatch(/^[A-Za-z0-9_-]{70}$/);
    expect(verifyTrackingToken(secret, token)).toEqual(claim);
  });

  it('are laid out as version, purpose, org, message, link index and a 16-byte HMAC', () => {
    const body = Buffer.concat([
      Buffer.from([1, 1]),
      Buffer.from(orgId.replace(/-/g, ''), 'hex'),
      Buffer.from(messageId, 'hex'),
      Buffer.from([0, 3]),
    ]);
    const mac = createHmac('sha256', secret)
      .update('cmis-email-tracking\u0000')
      .update(body)
      .digest()
      .subarray(0, 16);
    expect(signTrackingToken(secret, click)).toBe(Buffer.concat([body, mac]).toString('base64url'));
  });

  it('give ids back in lower case, from an org id in upper case or without dashes', () => {
    const token = signTrackingToken(secret, {
      ...click,
      orgId: orgId.toUpperCase().replace(/-/g, ''),
      messageId: messageId.toUpperCase(),
    });
    expect(token).toBe(signTrackingToken(secret, click));
    expect(verifyTrackingToken(secret, token)).toEqual(click);
  });

  it('differ by purpose and by link, so one cannot stand for another', () => {
    const tokens = new Set([
      signTrackingToken(secret, click),
      signTrackingToken(secret, { ...click, linkIndex: 4 }),
      signTrackingToken(secret, { purpose: 'open', orgId, messageId }),
      signTrackingToken(secret, { purpose: 'unsubscribe', orgId, messageId }),
    ]);
    expect(tokens.size).toBe(4);
  });

  it('refuse every altered character', () => {
    const token = signTrackingToken(secret, click);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (let i = 0; i < token.length; i++) {
      for (const replacement of [alphabet[(alphabet.indexOf(token[i]!) + 1) % 64]!, 'A', '_']) {
        if (replacement === token[i]) continue;
        const altered = token.slice(0, i) + replacement + token.slice(i + 1);
        expect(verifyTrackingToken(secret, altered)).toBeUndefined();
      }
    }
  });

  it('refuse a claim re-signed under another secret', () => {
    expect(
      verifyTrackingToken(secret, signTrackingToken('another-secret-0123456789', click)),
    ).toBeUndefined();
  });

  it('verify with any of several secrets, so the secret can be rotated', () => {
    const old = signTrackingToken(secret, click);
    expect(verifyTrackingToken(['the-new-secret-0123456789', secret], old)).toEqual(click);
    expect(verifyTrackingToken(['the-new-secret-0123456789'], old)).toBeUndefined();
    expect(verifyTrackingToken([], old)).toBeUndefined();
  });

  it('refuse malformed tokens without throwing', () => {
    const token = signTrackingToken(secret, click);
    const malformed: unknown[] = [
      '',
      'not-a-token',
      token.slice(0, -1),
      `${token}A`,
      `${token}=`,
      `${token.slice(0, 30)}+${token.slice(31)}`,
      `${token.slice(0, 30)}/${token.slice(31)}`,
      ' '.repeat(70),
      'A'.repeat(70),
      'x'.repeat(100_000),
      undefined,
      null,
      42,
    ];
    for (const bad of malformed) expect(verifyTrackingToken(secret, bad as string)).toBeUndefined();
    expect(verifyTrackingToken(undefined as unknown as string, token)).toBeUndefined();
  });

  it('refuse a validly signed body of an unknown version or purpose', () => {
    const forge = (version: number, purpose: number) => {
      const body = Buffer.from(signTrackingToken(secret, click), 'base64url').subarray(0, 36);
      body[0] = version;
      body[1] = purpose;
      const mac = createHmac('sha256', secret)
        .update('cmis-email-tracking\u0000')
        .update(body)
        .digest()
        .subarray(0, 16);
      return Buffer.concat([body, mac]).toString('base64url');
    };
    expect(verifyTrackingToken(secret, forge(1, 1))).toEqual(click);
    expect(verifyTrackingToken(secret, forge(2, 1))).toBeUndefined();
    expect(verifyTrackingToken(secret, forge(1, 4))).toBeUndefined();
  });

  it.each<[string, Partial<TrackingClaim>]>([
    ['an org id that is no uuid', { orgId: 'acme' }],
    ['a message id that is not 32 hex digits', { messageId: 'msg-1' }],
    ['a negative link index', { linkIndex: -1 }],
    ['a fractional link index', { linkIndex: 1.5 }],
    ['the index that means none', { linkIndex: 0xffff }],
    ['an unknown purpose', { purpose: 'bounce' as TrackingClaim['purpose'] }],
  ])('are not made for %s', (_, change) => {
    expect(() => signTrackingToken(secret, { ...click, ...change })).toThrow(TrackingClaimError);
  });
});
