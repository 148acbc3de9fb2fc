// A small HTML start-tag scanner, enough to find links without a DOM: it walks the markup tag by
// tag and reads each tag's attributes the way a browser tokenizer does, so an `<a href` inside
// another attribute's value, a comment, or a <style> block is never mistaken for a link.
// Outlook's conditional comments (`<!--[if mso]>…<![endif]-->`) are scanned: Outlook renders them.

export interface HtmlAttribute {
  /** Lower-cased, as HTML compares attribute names. */
  name: string;
  /** The raw value, entities not decoded; undefined for a bare attribute (`<a download>`). */
  value?: string;
  /** Where the value sits in the markup, quotes included (empty span for a bare attribute). */
  valueStart: number;
  valueEnd: number;
}

export interface HtmlStartTag {
  /** Lower-cased. */
  name: string;
  attributes: HtmlAttribute[];
  start: number;
  end: number;
}

const TAG_NAME = /[a-zA-Z][^\s/>]*/y;
const SPACE_OR_SLASH = /[\s/]*/y;
const ATTR_NAME = /[^\s/>][^\s/>=]*/y;
const EQUALS = /\s*=\s*/y;
const RAW_TEXT = new Set(['style', 'script']);

function matchAt(re: RegExp, text: string, at: number): string | undefined {
  re.lastIndex = at;
  return re.exec(text)?.[0];
}

/** Every start tag of `html`, in order. */
export function* startTags(html: string): Generator<HtmlStartTag> {
  let at = 0;
  while (at < html.length) {
    const open = html.indexOf('<', at);
    if (open < 0) return;
    if (html.startsWith('<!--', open)) {
      if (html.startsWith('<!--[if', open)) {
        at = closeOf(html, open);
        continue;
      }
      // From open + 2 so that `<!-->` and `<!--->` (empty comments) close where browsers close them.
      const close = html.indexOf('-->', open + 2);
      at = close < 0 ? html.length : close + 3;
      continue;
    }
    if (html[open + 1] === '/' || html[open + 1] === '!' || html[open + 1] === '?') {
      at = closeOf(html, open);
      continue;
    }
    const name = matchAt(TAG_NAME, html, open + 1);
    if (!name) {
      at = open + 1;
      continue;
    }
    const tag = readAttributes(html, open, name.toLowerCase(), open + 1 + name.length);
    yield tag;
    at = tag.end;
    if (RAW_TEXT.has(tag.name)) {
      const close = html.toLowerCase().indexOf(`</${tag.name}`, at);
      at = close < 0 ? html.length : close;
    }
  }
}

const closeOf = (html: string, from: number) => {
  const close = html.indexOf('>', from);
  return close < 0 ? html.length : close + 1;
};

function readAttributes(html: string, start: number, name: string, from: number): HtmlStartTag {
  const attributes: HtmlAttribute[] = [];
  let at = from;
  for (;;) {
    at += matchAt(SPACE_OR_SLASH, html, at)?.length ?? 0;
    if (at >= html.length) return { name, attributes, start, end: html.length };
    if (html[at] === '>') return { name, attributes, start, end: at + 1 };
    const attrName = matchAt(ATTR_NAME, html, at)!;
    at += attrName.length;
    const equals = matchAt(EQUALS, html, at);
    if (!equals) {
      attributes.push({ name: attrName.toLowerCase(), valueStart: at, valueEnd: at });
      continue;
    }
    at += equals.length;
    const valueStart = at;
    const quote = html[at];
    let value: string;
    if (quote === '"' || quote === "'") {
      const close = html.indexOf(quote, at + 1);
      // An unclosed quote runs to the end of the document, as in a browser.
      at = close < 0 ? html.length : close + 1;
      value = html.slice(valueStart + 1, close < 0 ? html.length : close);
    } else {
      const end = html.slice(at).search(/[\s>]/);
      at = end < 0 ? html.length : at + end;
      value = html.slice(valueStart, at);
    }
    attributes.push({ name: attrName.toLowerCase(), value, valueStart, valueEnd: at });
  }
}
