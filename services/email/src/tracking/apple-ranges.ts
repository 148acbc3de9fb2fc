// Where Apple Mail Privacy Protection fetches images from: Apple's own address blocks. 17.0.0.0/8
// is Apple's since 1990 and is where MPP's fetches are seen; the IPv6 blocks are Apple's RIR
// allocations (ARIN, RIPE, APNIC). iCloud Private Relay's egress (Akamai, Cloudflare, Fastly) is
// left out on purpose: people browse through it, and their clicks are human.
import { BlockList, isIP } from 'node:net';

export const APPLE_PROXY_RANGES: ReadonlyArray<{ network: string; prefix: number; family: 'ipv4' | 'ipv6' }> =
  [
    { network: '17.0.0.0', prefix: 8, family: 'ipv4' },
    { network: '2620:149::', prefix: 32, family: 'ipv6' },
    { network: '2a01:b740::', prefix: 32, family: 'ipv6' },
    { network: '2403:300::', prefix: 32, family: 'ipv6' },
  ];

const APPLE = new BlockList();
for (const r of APPLE_PROXY_RANGES) APPLE.addSubnet(r.network, r.prefix, r.family);

/** Whether `ip` (IPv4 or IPv6) is in Apple's ranges; false for anything that is not an address. */
export function inAppleProxyRange(ip: string): boolean {
  const family = isIP(ip);
  if (family === 0) return false;
  try {
    return APPLE.check(ip, family === 4 ? 'ipv4' : 'ipv6');
  } catch {
    // A zone-scoped link-local address (fe80::1%eth0) passes isIP but not BlockList; not Apple's.
    return false;
  }
}
