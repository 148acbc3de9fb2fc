// Telling machine opens and clicks from people's. Nothing is dropped: the event keeps a machine
// flag and the reason, and counts of human engagement leave flagged ones out. A false "machine"
// only costs a count; a false "human" inflates A/B results, so doubtful agents count as machines.
// Google's image proxy (GoogleImageProxy, ggpht.com) and Yahoo's fetch images when a person opens
// the message, not on delivery, so their opens are human.
import { inAppleProxyRange } from './apple-ranges';

export interface Hit {
  kind: 'open' | 'click';
  method: string;
  userAgent?: string;
  ip?: string;
  at: Date;
  sentAt?: Date;
  honeypot?: boolean;
  /** The Sec-Purpose / Purpose / X-Purpose / X-Moz request header, when there was one. */
  purpose?: string;
}

export type MachineReason =
  | 'honeypot'
  | 'head_request'
  | 'prefetch'
  | 'apple_mpp'
  | 'security_scanner'
  | 'http_library'
  | 'too_soon_after_send';

/**
 * A click this soon after the send is a gateway's link scan, not a person. Scanners follow links
 * as the message arrives, which with gateway queueing is seconds to some ten seconds after our
 * hand-off; a person has to see, open and read the message first. A person clicking a password
 * reset within 10 s is counted as a machine: the click still redirects and is recorded.
 */
export const DEFAULT_MIN_HUMAN_CLICK_DELAY_MS = 10_000;

const BARE_MOZILLA = /^Mozilla\/5\.0$/;

// Email-security gateways and link scanners, preview bots and headless browsers, by user agent.
// Outlook's own image fetches ("Microsoft Office/16.0", "ms-office") are a person opening the
// message, so only Office's link discovery probes are listed, not Office as such.
const SCANNERS = new RegExp(
  [
    'barracuda',
    'mimecast',
    'proofpoint',
    'urldefense',
    'safe ?links',
    'bingpreview',
    'microsoft office (existence|protocol) discovery',
    'symantec',
    'messagelabs',
    'trend ?micro',
    'ironport',
    'cisco secure email',
    'forcepoint',
    'sophos',
    'fortiguard',
    'fortimail',
    'cloudmark',
    'sonicwall',
    'check ?point',
    'avanan',
    'vade ?secure',
    'hornetsecurity',
    'spamtitan',
    'headless',
    'phantomjs',
    'puppeteer',
    'playwright',
    'selenium',
    '\\bbot\\b',
    '[a-z]bot/',
    'crawler',
    'spider',
  ].join('|'),
  'i',
);

// HTTP client libraries and command-line tools, which no mail client presents itself as.
const LIBRARIES =
  /^(python-requests|python-urllib|python-httpx|aiohttp|curl\/|wget\/|go-http-client|java\/|apache-httpclient|libwww-perl|lwp::|axios\/|node-fetch|undici|guzzlehttp|ruby|php\/)/i;

// IPv4-mapped IPv6 (::ffff:17.0.0.1, how a dual-stack socket reports IPv4) is matched as IPv4.
const fromApple = (ip: string | undefined) => (ip ? inAppleProxyRange(ip) : false);

export function classifyHit(
  hit: Hit,
  options: { minHumanClickDelayMs?: number } = {},
): { machine: boolean; reason?: MachineReason } {
  const ua = hit.userAgent?.trim() || undefined;
  if (hit.honeypot) return { machine: true, reason: 'honeypot' };
  if (hit.method.toUpperCase() === 'HEAD') return { machine: true, reason: 'head_request' };
  if (hit.purpose && /prefetch|preview|prerender/i.test(hit.purpose))
    return { machine: true, reason: 'prefetch' };
  // Mail Privacy Protection fetches every image through Apple's egress on delivery, saying only
  // "Mozilla/5.0". An open from Apple's ranges is that proxy; a click from there is only when it
  // lacks a browser's user agent (people at Apple click too).
  const bare = ua === undefined || BARE_MOZILLA.test(ua);
  if (hit.kind === 'open' && (fromApple(hit.ip) || (ua !== undefined && bare)))
    return { machine: true, reason: 'apple_mpp' };
  if (hit.kind === 'click' && bare && fromApple(hit.ip)) return { machine: true, reason: 'apple_mpp' };
  if (ua && SCANNERS.test(ua)) return { machine: true, reason: 'security_scanner' };
  if (bare || LIBRARIES.test(ua!)) return { machine: true, reason: 'http_library' };
  const delay = options.minHumanClickDelayMs ?? DEFAULT_MIN_HUMAN_CLICK_DELAY_MS;
  if (hit.kind === 'click' && hit.sentAt && hit.at.getTime() - hit.sentAt.getTime() < delay)
    return { machine: true, reason: 'too_soon_after_send' };
  return { machine: false };
}
