import { parseVerp, verpAddress, VerpAddressError } from './verp';

const orgId = '3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b';
const messageId = '0123456789abcdef0123456789abcdef';
const secret = 'verp-secret-one-0123456789';
const address = (overrides: Partial<Parameters<typeof verpAddress>[0]> = {}) =>
  verpAddress({
    localPart: 'bounces',
    domain: 'bounces.example.com',
    orgId,
    messageId,
    secret,
    ...overrides,
  });

describe('VERP return paths', () => {
  it('name the org and the message in a local part of at most 64 characters', () => {
    const verp = address();
    const local = verp.split('@')[0]!;
    expect(local).toMatch(/^bounces\+[0-9a-z]{56}$/);
    expect(local.length).toBeLessThanOrEqual(64);
    expect(verp.endsWith('@bounces.example.com')).toBe(true);
    expect(parseVerp(verp, secret)).toEqual({ orgId, messageId });
  });

  it('are read whatever case an MTA gave them, and from an org id given without dashes', () => {
    const verp = address({ orgId: orgId.replace(/-/g, '').toUpperCase() });
    expect(verp).toBe(address());
    expect(parseVerp(verp.toUpperCase(), [secret])).toEqual({ orgId, messageId });
  });

  it('verify with any of the secrets, so a secret can be rotated', () => {
    const old = address();
    expect(parseVerp(old, ['the-new-secret-0123456789', secret])).toEqual({ orgId, messageId });
    expect(parseVerp(old, ['the-new-secret-0123456789'])).toBeUndefined();
  });

  it('refuse any changed character', () => {
    const verp = address();
    const at = verp.indexOf('@');
    for (const index of [8, 20, 40, at - 3, at - 1]) {
      const char = verp[index]!;
      const changed = `${verp.slice(0, index)}${char === '0' ? '1' : '0'}${verp.slice(index + 1)}`;
      expect(parseVerp(changed, secret)).toBeUndefined();
    }
  });

  it('carry ids that are not 32 hex digits as they are, up to what fits', () => {
    const short = address({ messageId: 'msg42' });
    expect(short.split('@')[0]).toMatch(/^bounces\+[0-9a-z]{25}-msg42[0-9a-z]{6}$/);
    expect(parseVerp(short, secret)).toEqual({ orgId, messageId: 'msg42' });
    const longest = 'z'.repeat(24);
    expect(parseVerp(address({ messageId: longest }), secret)).toEqual({ orgId, messageId: longest });
    expect(() => address({ messageId: 'z'.repeat(25) })).toThrow(VerpAddressError);
    expect(() => address({ localPart: 'bounces-long' })).toThrow(VerpAddressError);
  });

  it('refuse inputs they cannot encode', () => {
    expect(() => address({ orgId: 'not-a-uuid' })).toThrow(VerpAddressError);
    expect(() => address({ messageId: 'has_underscore' })).toThrow(VerpAddressError);
  });

  it('are not found in addresses that are not VERP', () => {
    for (const other of [
      'bounces@bounces.example.com',
      'bounces+short@bounces.example.com',
      `bounces+${'z'.repeat(56)}@bounces.example.com`,
      'jane@example.org',
      '',
    ])
      expect(parseVerp(other, secret)).toBeUndefined();
  });
});
