import { checkWebhookUrl, classifyAddress, parseAllowlist } from './address';

describe('webhook address classification', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.0.0.8', 'private'],
    ['172.16.5.4', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'metadata'],
    ['169.254.10.10', 'link-local'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.254', 'carrier-grade NAT'],
    ['0.0.0.0', 'unspecified'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fc00::1', 'unique local'],
    ['fd12:3456::1', 'unique local'],
    ['fd00:ec2::254', 'metadata'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:a00:1', 'private'],
    ['64:ff9b::a00:1', 'special-purpose'],
    ['2002:a00:1::', 'special-purpose'],
    ['224.0.0.1', 'multicast'],
    ['192.0.2.10', 'reserved'],
  ])('refuses %s (%s)', (ip, kind) => {
    const verdict = classifyAddress(ip);
    expect(verdict.allowed).toBe(false);
    if (!verdict.allowed) expect(verdict.reason).toContain(kind);
  });

  it.each([
    '8.8.8.8',
    '93.184.216.34',
    '2606:2800:220:1:248:1893:25c8:1946',
    '::ffff:8.8.8.8',
    '100.128.0.1',
  ])('allows the public address %s', (ip) => {
    expect(classifyAddress(ip).allowed).toBe(true);
  });

  it('lets the allowlist, and only it, open chosen private ranges', () => {
    const allowlist = parseAllowlist('127.0.0.1/32, fd00:1::/64');
    expect(classifyAddress('127.0.0.1', allowlist)).toEqual({ allowed: true, address: '127.0.0.1' });
    expect(classifyAddress('::ffff:127.0.0.1', allowlist)).toEqual({ allowed: true, address: '127.0.0.1' });
    expect(classifyAddress('fd00:1::5', allowlist).allowed).toBe(true);
    expect(classifyAddress('127.0.0.2', allowlist).allowed).toBe(false);
    expect(classifyAddress('10.0.0.1', allowlist).allowed).toBe(false);
    expect(classifyAddress('169.254.169.254', allowlist).allowed).toBe(false);
    expect(() => parseAllowlist('not-a-cidr')).toThrow();
  });

  it('checks URLs without DNS: scheme, credentials, literal addresses, local names', () => {
    expect(checkWebhookUrl('https://hooks.example.com/a').ok).toBe(true);
    expect(checkWebhookUrl('http://[::ffff:7f00:1]:80/').ok).toBe(false);
    expect(checkWebhookUrl('http://2130706433/').ok).toBe(false);
    expect(checkWebhookUrl('http://metadata.google.internal/').ok).toBe(false);
    expect(checkWebhookUrl('file:///etc/passwd').ok).toBe(false);
    expect(checkWebhookUrl('http://127.0.0.1:9/', parseAllowlist('127.0.0.0/8')).ok).toBe(true);
  });
});
