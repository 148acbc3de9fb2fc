// Link tracking in a rendered message: every http(s) link of the HTML goes through the click
// redirect (its own index per position, so two links to one URL are told apart), an open pixel
// goes before </body>, and a hidden honeypot link catches scanners that follow everything. Links
// marked data-cmis-untracked (unsubscribe, preferences) are left alone. The text part's URLs are
// rewritten to the same tracked links; a text-only message gets its URLs tracked by themselves.

export interface TrackedLink {
  index: number;
  url: string;
  honeypot: boolean;
}

const ANCHOR = /<a\b([^>]*)>/gi;
const HREF = /(\bhref\s*=\s*)("([^"]*)"|'([^']*)')/i;
const ENTITY: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", '#39': "'" };

const decodeEntities = (text: string) =>
  text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name: string) => {
    if (name[0] === '#')
      return String.fromCodePoint(
        name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : Number(name.slice(1)),
      );
    return ENTITY[name.toLowerCase()] ?? whole;
  });
const escapeAttr = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

export function instrumentHtml(
  html: string,
  opts: { linkUrl: (index: number) => string; openPixelUrl: string; honeypotUrl?: (index: number) => string },
): { html: string; links: TrackedLink[] } {
  const links: TrackedLink[] = [];
  let out = html.replace(ANCHOR, (tag: string, attrs: string) => {
    if (/\bdata-cmis-untracked\b/i.test(attrs)) return tag;
    const href = HREF.exec(attrs);
    if (!href) return tag;
    const url = decodeEntities((href[3] ?? href[4] ?? '').trim());
    if (!/^https?:\/\//i.test(url)) return tag;
    const index = links.length;
    links.push({ index, url, honeypot: false });
    return tag.replace(HREF, `$1"${escapeAttr(opts.linkUrl(index))}"`);
  });
  const extras: string[] = [];
  if (opts.honeypotUrl) {
    const index = links.length;
    links.push({ index, url: 'https://honeypot.invalid/', honeypot: true });
    extras.push(
      `<a href="${escapeAttr(opts.honeypotUrl(index))}" style="display:none !important;mso-hide:all" aria-hidden="true" tabindex="-1"></a>`,
    );
  }
  extras.push(
    `<img src="${escapeAttr(opts.openPixelUrl)}" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0;margin:0;padding:0">`,
  );
  const close = out.search(/<\/body\s*>/i);
  out =
    close >= 0 ? `${out.slice(0, close)}${extras.join('')}${out.slice(close)}` : `${out}${extras.join('')}`;
  return { html: out, links };
}

const TEXT_URL = /https?:\/\/[^\s<>"')\]]+/g;

/** The text part with each URL of a tracked link replaced by its tracked URL (first unused match). */
export function instrumentText(
  text: string,
  links: TrackedLink[],
  linkUrl: (index: number) => string,
): string {
  const free = links.filter((l) => !l.honeypot);
  return text.replace(TEXT_URL, (url) => {
    const i = free.findIndex((l) => l.url === url);
    if (i < 0) return url;
    const [link] = free.splice(i, 1);
    return linkUrl(link!.index);
  });
}

/** The URLs of a text-only message, as links to track. */
export function textLinks(text: string): TrackedLink[] {
  return [...text.matchAll(TEXT_URL)].map((m, index) => ({ index, url: m[0], honeypot: false }));
}
