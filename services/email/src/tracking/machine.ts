// Telling machine opens and clicks from people's. Nothing is dropped: the event keeps a machine
// flag and the reason, and counts of human engagement leave flagged ones out. Signals: HEAD
// requests (link checkers), the hidden honeypot link (no person can click it), Apple Mail Privacy
// Protection (Apple's proxy fetches every image on delivery), security scanners and HTTP
// libraries by user agent, and clicks within seconds of the send (scanners open links on arrival).
// Google's image proxy fetches when a person opens the message in Gmail: that counts as human.
import { BlockList, isIP } from 'node:net';

export interface Hit {
  kind: 'open' | 'click';
  method: string;
  userAgent?: string;
  ip?: string;
  at: Date;
  sentAt?: Date;
  honeypot?: boolean;
}

export type MachineReason =
  'head_request' | 'honeypot' | 'apple_mpp' | 'security_scanner' | 'http_library' | 'too_soon_after_send';

/** A person does not click a link within this long of its sending; scanners do. */
export const DEFAULT_MIN_HUMAN_CLICK_DELAY_MS = 5_000;

// Apple's Mail Privacy Protection egress: 17.0.0.0/8 (Apple) and its iCloud Private Relay ranges
// seen fetching mail images; the prefetcher's user agent is a bare "Mozilla/5.0".
const APPLE = new BlockList();
APPLE.addSubnet('17.0.0.0', 8, 'ipv4');
APPLE.addSubnet('2620:149::', 32, 'ipv6');
APPLE.addSubnet('2a01:b740::', 32, 'ipv6');

const SCANNERS =
  /barracuda|mimecast|proofpoint|ppops|safelinks|bingpreview|microsoft office|ms-office|symantec|messagelabs|trend ?micro|ironport|cisco|forcepoint|sophos|fortiguard|zscaler|checkpoint|cloudmark|sonicwall|urldefense|avanan|abnormal|headlesschrome|phantomjs|slurp|bot\b|spider|crawler/i;
const LIBRARIES =
  /^(python-requests|python-urllib|curl|wget|go-http-client|java\/|okhttp|libwww-perl|apache-httpclient|axios|node-fetch|undici|ruby|php)/i;

function isApple(ip: string | undefined, userAgent: string | undefined): boolean {
  const bare = userAgent?.trim() === 'Mozilla/5.0';
  if (!ip) return false;
  const plain = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  const family = isIP(plain);
  if (family === 0) return false;
  return (
    APPLE.check(plain, family === 4 ? 'ipv4' : 'ipv6') &&
    (bare || userAgent === undefined || /AppleWebKit/.test(userAgent))
  );
}

export function classifyHit(
  hit: Hit,
  options: { minHumanClickDelayMs?: number } = {},
): { machine: boolean; reason?: MachineReason } {
  const ua = hit.userAgent;
  if (hit.method.toUpperCase() === 'HEAD') return { machine: true, reason: 'head_request' };
  if (hit.honeypot) return { machine: true, reason: 'honeypot' };
  if (isApple(hit.ip, ua)) return { machine: true, reason: 'apple_mpp' };
  if (ua && SCANNERS.test(ua)) return { machine: true, reason: 'security_scanner' };
  if (!ua || LIBRARIES.test(ua)) return { machine: true, reason: 'http_library' };
  const delay = options.minHumanClickDelayMs ?? DEFAULT_MIN_HUMAN_CLICK_DELAY_MS;
  if (hit.kind === 'click' && hit.sentAt && hit.at.getTime() - hit.sentAt.getTime() < delay)
    return { machine: true, reason: 'too_soon_after_send' };
  return { machine: false };
}
