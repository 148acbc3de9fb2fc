// Link tracking in a rendered message: every http(s) link of the HTML goes through the click
// redirect, an open pixel goes before </body>, and a hidden honeypot link catches scanners that
// follow everything. Links marked data-cmis-untracked (unsubscribe, preferences) are left alone.
// Each link gets its own index by position, even when two point at one URL: the header button and
// the footer link are told apart in the reports, and both still redirect to that URL.
import { decodeHtmlEntities, escapeHtmlAttribute } from './entities';
import { startTags } from './html-tags';

export interface TrackedLink {
  index: number;
  url: string;
  honeypot: boolean;
}

/** Where the honeypot redirects: nowhere, and no person ever gets there. */
export const HONEYPOT_URL = 'https://honeypot.invalid/';

const HTTP_URL = /^https?:\/\//i;

/** The URL a browser would follow for an href value: entities decoded, tabs and newlines dropped. */
const hrefUrl = (raw: string) =>
  decodeHtmlEntities(raw)
    .replace(/[\t\n\r]/g, '')
    // eslint-disable-next-line no-control-regex
    .replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, '');

export function instrumentHtml(
  html: string,
  opts: { linkUrl: (index: number) => string; openPixelUrl: string; honeypotUrl?: (index: number) => string },
): { html: string; links: TrackedLink[] } {
  const links: TrackedLink[] = [];
  const parts: string[] = [];
  let copied = 0;
  for (const tag of startTags(html)) {
    if (tag.name !== 'a' || tag.attributes.some((a) => a.name === 'data-cmis-untracked')) continue;
    // A repeated attribute counts once, the first time, as in a browser.
    const href = tag.attributes.find((a) => a.name === 'href');
    if (href?.value === undefined) continue;
    const url = hrefUrl(href.value);
    if (!HTTP_URL.test(url)) continue;
    const index = links.length;
    links.push({ index, url, honeypot: false });
    parts.push(html.slice(copied, href.valueStart), `"${escapeHtmlAttribute(opts.linkUrl(index))}"`);
    copied = href.valueEnd;
  }
  parts.push(html.slice(copied));
  const body = parts.join('');

  const index = links.length;
  links.push({ index, url: HONEYPOT_URL, honeypot: true });
  const honeypotHref = (opts.honeypotUrl ?? opts.linkUrl)(index);
  // Hidden from sight (Outlook needs mso-hide), from screen readers and from the tab order, and
  // with no text to read out.
  const extras =
    `<a href="${escapeHtmlAttribute(honeypotHref)}" style="display:none !important;mso-hide:all;` +
    `font-size:0;line-height:0;max-height:0;overflow:hidden" aria-hidden="true" tabindex="-1"></a>` +
    `<img src="${escapeHtmlAttribute(opts.openPixelUrl)}" width="1" height="1" alt="" ` +
    `style="display:block;width:1px;height:1px;border:0;margin:0;padding:0">`;
  const close = lastBodyClose(body);
  return {
    html: close < 0 ? body + extras : body.slice(0, close) + extras + body.slice(close),
    links,
  };
}

function lastBodyClose(html: string): number {
  let last = -1;
  for (const m of html.matchAll(/<\/body\s*>/gi)) last = m.index;
  return last;
}

// A URL in plain text ends at whitespace or at what cannot be in one unescaped; html-to-text puts
// links in brackets (`the offer [https://…]`), so brackets end it too.
const TEXT_URL = /https?:\/\/[^\s<>"'[\]{}|\\^`]+/gi;
const TRAILING = /[.,;:!?*]$/;

/** A URL as a reader means it: without the sentence's full stop or an unbalanced closing bracket. */
function trimTextUrl(raw: string): string {
  let url = raw;
  for (;;) {
    if (TRAILING.test(url)) url = url.slice(0, -1);
    else if (url.endsWith(')') && count(url, '(') < count(url, ')')) url = url.slice(0, -1);
    else return url;
  }
}

const count = (text: string, char: string) => text.split(char).length - 1;

/**
 * The text part with each URL of a tracked link replaced by its tracked URL. The n-th occurrence
 * of a URL takes the n-th link to it (html-to-text keeps the order of the HTML); more occurrences
 * than links reuse the first. URLs of no tracked link (unsubscribe, preferences) stay as they are.
 */
export function instrumentText(
  text: string,
  links: TrackedLink[],
  linkUrl: (index: number) => string,
): string {
  const byUrl = new Map<string, TrackedLink[]>();
  for (const link of links) {
    if (link.honeypot) continue;
    byUrl.set(link.url, [...(byUrl.get(link.url) ?? []), link]);
  }
  const used = new Map<string, number>();
  return text.replace(TEXT_URL, (raw) => {
    const url = byUrl.has(raw) ? raw : trimTextUrl(raw);
    const candidates = byUrl.get(url);
    if (!candidates) return raw;
    const n = used.get(url) ?? 0;
    used.set(url, n + 1);
    return linkUrl((candidates[n] ?? candidates[0]!).index) + raw.slice(url.length);
  });
}

/** The URLs of a text-only message, as links to track (by position, like the HTML's). */
export function textLinks(text: string): TrackedLink[] {
  return [...text.matchAll(TEXT_URL)].map((m, index) => ({
    index,
    url: trimTextUrl(m[0]),
    honeypot: false,
  }));
}
