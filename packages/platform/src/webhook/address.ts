// Which addresses a webhook may reach: public unicast only, unless a deployment's allowlist names
// the range. Pure: no DNS here (see deliver.ts for resolution and the pinned connection).
import ipaddr from 'ipaddr.js';

export type AddressVerdict = { allowed: true; address: string } | { allowed: false; reason: string };

export type Allowlist = ReadonlyArray<[ipaddr.IPv4 | ipaddr.IPv6, number]>;

/**
 * Parses an allowlist setting (such as rules' `RULES_WEBHOOK_ALLOWLIST`): comma-separated CIDRs (or
 * single addresses). Throws on a bad entry.
 */
export function parseAllowlist(text: string | undefined): Allowlist {
  if (!text || text.trim() === '') return [];
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      if (entry.includes('/')) return ipaddr.parseCIDR(entry);
      const address = ipaddr.parse(entry);
      return [address, address.kind() === 'ipv4' ? 32 : 128] as [ipaddr.IPv4 | ipaddr.IPv6, number];
    });
}

// ipaddr.js names every special-purpose range; only `unicast` is the public internet. Everything
// else (private, loopback, linkLocal incl. 169.254.169.254, carrierGradeNat 100.64/10,
// uniqueLocal fc00::/7, unspecified, reserved, multicast, 6to4/teredo/NAT64 forms) is refused.
const RANGE_NAMES: Record<string, string> = {
  private: 'a private address',
  loopback: 'a loopback address',
  linkLocal: 'a link-local address',
  carrierGradeNat: 'a carrier-grade NAT address (100.64.0.0/10)',
  uniqueLocal: 'a unique local address (fc00::/7)',
  unspecified: 'the unspecified address',
  broadcast: 'a broadcast address',
  multicast: 'a multicast address',
  reserved: 'a reserved address',
};

const METADATA = new Set(['169.254.169.254', 'fd00:ec2::254', '100.100.100.200']);

/**
 * The IPv4 address an IPv6 address carries, for the forms that route to (or stand for) it:
 * IPv4-compatible ::a.b.c.d (deprecated; ipaddr.js calls it unicast), mapped ::ffff:a.b.c.d,
 * translated ::ffff:0:a.b.c.d (RFC 6145), NAT64 64:ff9b::/96 (RFC 6052), 6to4 2002:AABB:CCDD::/48
 * and Teredo 2001::/32 (the client's address, inverted, in the last 32 bits).
 */
export function embeddedIPv4(address: ipaddr.IPv6): { ipv4: ipaddr.IPv4; form: string } | undefined {
  const p = address.parts;
  const zero = (from: number, to: number) => p.slice(from, to).every((part) => part === 0);
  const v4 = (high: number, low: number) => new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
  if (zero(0, 6) && (p[6] !== 0 || p[7]! > 1)) return { ipv4: v4(p[6]!, p[7]!), form: 'IPv4-compatible' };
  if (zero(0, 5) && p[5] === 0xffff) return { ipv4: v4(p[6]!, p[7]!), form: 'IPv4-mapped' };
  if (zero(0, 4) && p[4] === 0xffff && p[5] === 0) return { ipv4: v4(p[6]!, p[7]!), form: 'IPv4-translated' };
  if (p[0] === 0x64 && p[1] === 0xff9b && zero(2, 6)) return { ipv4: v4(p[6]!, p[7]!), form: 'NAT64' };
  if (p[0] === 0x2002) return { ipv4: v4(p[1]!, p[2]!), form: '6to4' };
  if (p[0] === 0x2001 && p[1] === 0) return { ipv4: v4(~p[6]! & 0xffff, ~p[7]! & 0xffff), form: 'Teredo' };
  return undefined;
}

/**
 * Is `ip` (a literal) one a webhook may connect to? IPv4-mapped IPv6 is judged as its IPv4; any
 * other IPv6 form that carries an IPv4 address is refused when that address would be, and is
 * otherwise judged as IPv6 (where only plain unicast passes).
 */
export function classifyAddress(ip: string, allowlist: Allowlist = []): AddressVerdict {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(ip);
  } catch {
    return { allowed: false, reason: `${ip} is not an IP address` };
  }
  if (parsed.kind() === 'ipv6') {
    const embedded = embeddedIPv4(parsed as ipaddr.IPv6);
    if (embedded?.form === 'IPv4-mapped') {
      parsed = embedded.ipv4;
    } else if (embedded) {
      const inner = classifyAddress(embedded.ipv4.toString(), allowlist);
      if (!inner.allowed)
        return {
          allowed: false,
          reason: `${ip} carries an IPv4 address (${embedded.form}): ${inner.reason}`,
        };
      if (embedded.form === 'IPv4-compatible')
        return { allowed: false, reason: `${ip} is a deprecated IPv4-compatible address` };
    }
  }
  const canonical = parsed.toString();
  for (const [range, bits] of allowlist) {
    if (range.kind() !== parsed.kind()) continue;
    if (parsed.match([range, bits] as never)) return { allowed: true, address: canonical };
  }
  if (METADATA.has(canonical)) return { allowed: false, reason: `${ip} is a cloud metadata address` };
  const range = parsed.range();
  if (range === 'unicast') return { allowed: true, address: canonical };
  const name = RANGE_NAMES[range] ?? `a special-purpose address (${range})`;
  return { allowed: false, reason: `${ip} is ${name}` };
}

/** The host of a webhook URL when it is an IP literal (brackets of IPv6 removed), else undefined. */
export function literalHost(url: URL): string | undefined {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return ipaddr.isValid(host) ? host : undefined;
}

/** Checks what can be checked without DNS: scheme, credentials, and a literal address. */
export function checkWebhookUrl(
  text: string,
  allowlist: Allowlist = [],
): { ok: true; url: URL } | { ok: false; reason: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, reason: 'is not a URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    return { ok: false, reason: 'must be http or https' };
  if (url.username || url.password) return { ok: false, reason: 'must not carry credentials' };
  const literal = literalHost(url);
  if (literal !== undefined) {
    // ipaddr.isValid accepts forms WHATWG URL already normalised (e.g. 0x7f.1 -> 127.0.0.1).
    const verdict = classifyAddress(literal, allowlist);
    if (!verdict.allowed) return { ok: false, reason: `points inside the network: ${verdict.reason}` };
  } else if (/^(localhost|.*\.localhost|.*\.local|.*\.internal)$/i.test(url.hostname)) {
    return { ok: false, reason: `points inside the network: ${url.hostname} is a local name` };
  }
  return { ok: true, url };
}
