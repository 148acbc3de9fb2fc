// Character references in attribute values, decoded as a browser decodes an href: numeric ones
// (a missing `;` tolerated, invalid code points become U+FFFD) and the named ones a URL can hold.
// An author may obfuscate `https&colon;//`, so the punctuation names matter, not only `&amp;`.
// Named references need their `;`: browsers leave `&ampx` alone in attributes too.

const NAMED: Record<string, string> = {
  amp: '&',
  AMP: '&',
  lt: '<',
  LT: '<',
  gt: '>',
  GT: '>',
  quot: '"',
  QUOT: '"',
  apos: "'",
  nbsp: '\u00a0',
  colon: ':',
  sol: '/',
  quest: '?',
  equals: '=',
  num: '#',
  percnt: '%',
  period: '.',
  comma: ',',
  semi: ';',
  excl: '!',
  commat: '@',
  plus: '+',
  dollar: '$',
  lowbar: '_',
  ast: '*',
  lpar: '(',
  rpar: ')',
  lsqb: '[',
  rsqb: ']',
  verbar: '|',
  bsol: '\\',
  Tab: '\t',
  NewLine: '\n',
};

const REFERENCE = /&(?:#[xX]([0-9a-fA-F]+);?|#(\d+);?|([a-zA-Z][a-zA-Z0-9]*);)/g;

function codePoint(n: number): string {
  if (!Number.isFinite(n) || n === 0 || n > 0x10ffff || (n >= 0xd800 && n <= 0xdfff)) return '\ufffd';
  return String.fromCodePoint(n);
}

export function decodeHtmlEntities(text: string): string {
  return text.replace(REFERENCE, (whole, hex?: string, dec?: string, name?: string) => {
    if (hex !== undefined) return codePoint(parseInt(hex, 16));
    if (dec !== undefined) return codePoint(Number(dec));
    // Names are case-sensitive (`&Colon;` is U+2237, not ':').
    return Object.hasOwn(NAMED, name!) ? NAMED[name!]! : whole;
  });
}

/** Safe inside a double-quoted attribute value. */
export const escapeHtmlAttribute = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
