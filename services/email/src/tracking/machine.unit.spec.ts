import { inAppleProxyRange } from './apple-ranges';
import { classifyHit, DEFAULT_MIN_HUMAN_CLICK_DELAY_MS, type Hit } from './machine';

const SAFARI =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15';
const CHROME =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
const sentAt = new Date('2026-05-01T10:00:00Z');
const later = (ms: number) => new Date(sentAt.getTime() + ms);
const hit = (overrides: Partial<Hit> = {}): Hit => ({
  kind: 'click',
  method: 'GET',
  userAgent: CHROME,
  ip: '203.0.113.7',
  at: later(60_000),
  sentAt,
  ...overrides,
});

describe('classifyHit', () => {
  it('counts a browser click a minute after the send as human', () => {
    expect(classifyHit(hit())).toEqual({ machine: false });
    expect(classifyHit(hit({ kind: 'open', userAgent: SAFARI }))).toEqual({ machine: false });
  });

  it.each<[string, Partial<Hit>, string]>([
    ['a HEAD request', { method: 'HEAD' }, 'head_request'],
    ['a head request in lower case', { method: 'head' }, 'head_request'],
    ['the honeypot link', { honeypot: true }, 'honeypot'],
    ["Chrome's speculative prefetch", { purpose: 'prefetch;anonymous-client-ip' }, 'prefetch'],
    ["Safari's preview", { purpose: 'preview' }, 'prefetch'],
    ['an open through Apple MPP', { kind: 'open', ip: '17.58.101.4', userAgent: 'Mozilla/5.0' }, 'apple_mpp'],
    [
      'an Apple open with any user agent',
      { kind: 'open', ip: '17.58.101.4', userAgent: SAFARI },
      'apple_mpp',
    ],
    [
      'an Apple open over IPv6',
      { kind: 'open', ip: '2620:149:a0c:4000::1', userAgent: 'Mozilla/5.0' },
      'apple_mpp',
    ],
    ['an Apple open as IPv4-mapped IPv6', { kind: 'open', ip: '::ffff:17.1.2.3' }, 'apple_mpp'],
    [
      'an open saying only Mozilla/5.0, address unknown',
      { kind: 'open', ip: undefined, userAgent: 'Mozilla/5.0' },
      'apple_mpp',
    ],
    ['a click from Apple without a browser', { ip: '17.1.2.3', userAgent: 'Mozilla/5.0' }, 'apple_mpp'],
    ['Barracuda', { userAgent: 'Barracuda Sentinel (EE)' }, 'security_scanner'],
    ['Mimecast', { userAgent: 'Mozilla/5.0 (compatible; Mimecast URL Protect)' }, 'security_scanner'],
    ['Proofpoint', { userAgent: 'Proofpoint URL Defense/1.0' }, 'security_scanner'],
    ['BingPreview (Safe Links)', { userAgent: `${CHROME} BingPreview/1.0b` }, 'security_scanner'],
    ['Office link discovery', { userAgent: 'Microsoft Office Existence Discovery' }, 'security_scanner'],
    ['Symantec', { userAgent: 'Symantec Email Security.cloud link scanner' }, 'security_scanner'],
    ['Trend Micro', { userAgent: 'TrendMicro InterScan' }, 'security_scanner'],
    ['Cisco IronPort', { userAgent: 'Cisco-IronPort-WSA' }, 'security_scanner'],
    ['headless Chrome', { userAgent: CHROME.replace('Chrome/', 'HeadlessChrome/') }, 'security_scanner'],
    [
      'a crawler',
      { userAgent: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)' },
      'security_scanner',
    ],
    ['python-requests', { userAgent: 'python-requests/2.32.3' }, 'http_library'],
    ['curl', { userAgent: 'curl/8.5.0' }, 'http_library'],
    ['Go', { userAgent: 'Go-http-client/1.1' }, 'http_library'],
    ['Java', { userAgent: 'Java/17.0.2' }, 'http_library'],
    ['libwww-perl', { userAgent: 'libwww-perl/6.72' }, 'http_library'],
    ['Wget', { userAgent: 'Wget/1.21.4' }, 'http_library'],
    ['no user agent', { userAgent: undefined }, 'http_library'],
    ['an empty user agent', { userAgent: '  ' }, 'http_library'],
    ['a bare Mozilla/5.0 click from elsewhere', { userAgent: 'Mozilla/5.0' }, 'http_library'],
    ['a click a second after the send', { at: later(1_000) }, 'too_soon_after_send'],
    ['a click stamped before the send', { at: later(-5_000) }, 'too_soon_after_send'],
  ])('flags %s', (_, overrides, reason) => {
    expect(classifyHit(hit(overrides))).toEqual({ machine: true, reason });
  });

  it.each<[string, Partial<Hit>]>([
    [
      "Gmail's image proxy (a person opened the message)",
      {
        kind: 'open',
        ip: '66.249.84.1',
        userAgent:
          'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)',
      },
    ],
    [
      'Outlook for Windows loading images',
      {
        kind: 'open',
        userAgent: 'Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)',
      },
    ],
    ['an older Outlook', { kind: 'open', userAgent: 'Mozilla/4.0 (compatible; ms-office; MSOffice 16)' }],
    ['a person at Apple clicking in Safari', { ip: '17.1.2.3', userAgent: SAFARI }],
    [
      'an Android phone whose model ends in "bot"',
      {
        userAgent:
          'Mozilla/5.0 (Linux; Android 9; CUBOT X19) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36',
      },
    ],
    ['an open right after delivery (only clicks are too soon)', { kind: 'open', at: later(500) }],
    ['a click with no send time known', { sentAt: undefined, at: later(500) }],
  ])('counts %s as human', (_, overrides) => {
    expect(classifyHit(hit(overrides))).toEqual({ machine: false });
  });

  it('waits 10 seconds after the send before a click can be human, or as configured', () => {
    expect(DEFAULT_MIN_HUMAN_CLICK_DELAY_MS).toBe(10_000);
    expect(classifyHit(hit({ at: later(9_999) })).machine).toBe(true);
    expect(classifyHit(hit({ at: later(10_000) })).machine).toBe(false);
    expect(classifyHit(hit({ at: later(100) }), { minHumanClickDelayMs: 50 }).machine).toBe(false);
    expect(classifyHit(hit({ at: later(30_000) }), { minHumanClickDelayMs: 60_000 }).reason).toBe(
      'too_soon_after_send',
    );
  });

  it('names the honeypot first when several signals agree', () => {
    expect(classifyHit(hit({ honeypot: true, method: 'HEAD', userAgent: 'curl/8' })).reason).toBe('honeypot');
  });
});

describe('inAppleProxyRange', () => {
  it.each([
    ['17.0.0.0', true],
    ['17.255.255.255', true],
    ['16.255.255.255', false],
    ['18.0.0.0', false],
    ['2620:149::', true],
    ['2620:0149:ffff:ffff:ffff:ffff:ffff:ffff', true],
    ['2620:14a::1', false],
    ['2a01:b740:a42:1::5', true],
    ['2403:300:a0c::1', true],
    ['2001:db8::17', false],
    ['::ffff:17.0.0.1', true],
    ['fe80::1%eth0', false],
    ['not an address', false],
    ['17.0.0', false],
  ])('%s → %s', (ip, expected) => {
    expect(inAppleProxyRange(ip)).toBe(expected);
  });
});
