import ipaddr from 'ipaddr.js';
import { checkWebhookUrl, classifyAddress, embeddedIPv4, parseAllowlist } from './address';

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
    ['64:ff9b::a00:1', 'NAT64): 10.0.0.1 is a private'],
    ['2002:a00:1::', '6to4): 10.0.0.1 is a private'],
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

describe('IPv6 forms that carry an IPv4 address', () => {
  it.each([
    ['::7f00:1', 'IPv4-compatible'], // [::127.0.0.1] in a URL
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:0:10.0.0.1', 'IPv4-translated'],
    ['64:ff9b::192.168.1.1', 'NAT64'],
    ['64:ff9b::169.254.169.254', 'NAT64'],
    ['2002:c0a8:0101::1', '6to4'],
    ['2002:7f00:1::', '6to4'],
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'Teredo'],
  ])('refuses %s (%s around an inside address)', (ip, form) => {
    const verdict = classifyAddress(ip);
    expect(verdict.allowed).toBe(false);
    if (!verdict.allowed) expect(verdict.reason).toContain(form);
  });

  it('finds the embedded address of each form', () => {
    const of = (ip: string) => {
      const found = embeddedIPv4(ipaddr.parse(ip) as ipaddr.IPv6);
      return found && [found.form, found.ipv4.toString()];
    };
    expect(of('::7f00:1')).toEqual(['IPv4-compatible', '127.0.0.1']);
    expect(of('64:ff9b::808:808')).toEqual(['NAT64', '8.8.8.8']);
    expect(of('2002:0808:0808::')).toEqual(['6to4', '8.8.8.8']);
    expect(of('2001:0:4136:e378:8000:63bf:f7f7:f7f7')).toEqual(['Teredo', '8.8.8.8']);
    expect(of('::1')).toBeUndefined();
    expect(of('::')).toBeUndefined();
    expect(of('2606:4700::1111')).toBeUndefined();
  });

  it('still lets a plain public IPv6 address and a mapped public IPv4 through', () => {
    expect(classifyAddress('2606:4700::1111')).toEqual({ allowed: true, address: '2606:4700::1111' });
    expect(classifyAddress('::ffff:8.8.8.8')).toEqual({ allowed: true, address: '8.8.8.8' });
    // A transition form around a public address is still not plain unicast: refused as before.
    expect(classifyAddress('64:ff9b::8.8.8.8').allowed).toBe(false);
  });
});
