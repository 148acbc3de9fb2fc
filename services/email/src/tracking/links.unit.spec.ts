import { HONEYPOT_URL, instrumentHtml, instrumentText, textLinks } from './links';

const linkUrl = (i: number) => `https://t.example/c/tok${i}?a=1&b=2`;
const openPixelUrl = 'https://t.example/o/open&tok';
const instrument = (html: string) => instrumentHtml(html, { linkUrl, openPixelUrl });
const tracked = (i: number) => `"https://t.example/c/tok${i}?a=1&amp;b=2"`;
/** The markup with the honeypot and the pixel taken off, to compare the links alone. */
const linksOf = (html: string) =>
  instrument(html).html.replace(/<a href="[^"]*" style="display:none[^>]*><\/a><img [^>]*>/, '');

describe('instrumentHtml', () => {
  it('sends every http(s) link through its own tracked URL, by position', () => {
    const { html, links } = instrument(
      '<p><a href="https://acme.test/a">A</a> <a href="http://acme.test/b">B</a> <a href="https://acme.test/a">A again</a></p>',
    );
    expect(html).toContain(
      `<a href=${tracked(0)}>A</a> <a href=${tracked(1)}>B</a> <a href=${tracked(2)}>A again</a>`,
    );
    expect(links.slice(0, 3)).toEqual([
      { index: 0, url: 'https://acme.test/a', honeypot: false },
      { index: 1, url: 'http://acme.test/b', honeypot: false },
      { index: 2, url: 'https://acme.test/a', honeypot: false },
    ]);
  });

  it('decodes entities of the original href into the link URL', () => {
    const { links } = instrument(
      '<a href="https://acme.test/o?x=1&amp;y=2&#38;z=3&#x26;w=&quot;4&quot;">o</a>' +
        '<a href="https&colon;&sol;&sol;acme.test/obfuscated">p</a>',
    );
    expect(links.map((l) => l.url).slice(0, 2)).toEqual([
      'https://acme.test/o?x=1&y=2&z=3&w="4"',
      'https://acme.test/obfuscated',
    ]);
  });

  it('leaves an unknown or case-changed entity name as it is, as a browser does', () => {
    const { links } = instrument('<a href="https://acme.test/?a=1&ampb=2&Colon;&nosuch;">x</a>');
    expect(links[0]!.url).toBe('https://acme.test/?a=1&ampb=2&Colon;&nosuch;');
  });

  it.each([
    ['single quotes', `<a href='https://acme.test/x'>x</a>`, `<a href=${tracked(0)}>x</a>`],
    ['no quotes', '<a href=https://acme.test/x>x</a>', `<a href=${tracked(0)}>x</a>`],
    ['upper case', '<A HREF="HTTPS://ACME.TEST/X">x</A>', `<A HREF=${tracked(0)}>x</A>`],
    ['spaces around =', '<a  href = "https://acme.test/x" >x</a>', `<a  href = ${tracked(0)} >x</a>`],
    [
      'a newline in the tag',
      '<a\nclass="b"\nhref="https://acme.test/x">x</a>',
      `<a\nclass="b"\nhref=${tracked(0)}>x</a>`,
    ],
    [
      'other attributes first and after',
      '<a class="btn" target="_blank" href="https://acme.test/x" style="color:red">x</a>',
      `<a class="btn" target="_blank" href=${tracked(0)} style="color:red">x</a>`,
    ],
    ['a leading space in the value', '<a href="  https://acme.test/x ">x</a>', `<a href=${tracked(0)}>x</a>`],
  ])('reads the href with %s', (_, html, expected) => {
    expect(linksOf(html)).toBe(expected);
    expect(instrument(html).links[0]!.url.toLowerCase()).toBe('https://acme.test/x');
  });

  it('does not touch an href in the text of another attribute', () => {
    const html =
      `<a title="see href='https://evil.test/'" data-href="https://evil.test/" href="https://acme.test/x">x</a>` +
      `<img alt="<a href='https://evil.test/'>" src="https://acme.test/i.png">`;
    const { links, html: out } = instrument(html);
    expect(links.filter((l) => !l.honeypot)).toEqual([
      { index: 0, url: 'https://acme.test/x', honeypot: false },
    ]);
    expect(out).toContain(
      `title="see href='https://evil.test/'" data-href="https://evil.test/" href=${tracked(0)}>`,
    );
    expect(out).toContain(`alt="<a href='https://evil.test/'>"`);
  });

  it('takes a repeated href the first time, as a browser does', () => {
    expect(linksOf('<a href="https://acme.test/1" href="https://acme.test/2">x</a>')).toBe(
      `<a href=${tracked(0)} href="https://acme.test/2">x</a>`,
    );
  });

  it('leaves mailto:, tel:, fragments, relative links, untracked links and other tags alone', () => {
    const html = [
      '<a href="mailto:hi@acme.test">m</a>',
      '<a href="tel:+4930123">t</a>',
      '<a href="#top">f</a>',
      '<a href="/relative">r</a>',
      '<a href="//acme.test/scheme-relative">s</a>',
      '<a href="javascript:alert(1)">j</a>',
      '<a name="anchor">n</a>',
      '<a href="https://e.test/u/tok" data-cmis-untracked>Unsubscribe</a>',
      '<a DATA-CMIS-UNTRACKED="" href="https://e.test/p/tok">Preferences</a>',
      '<abbr href="https://acme.test/">a</abbr>',
      '<link href="https://acme.test/style.css">',
    ].join('');
    const { links } = instrument(html);
    expect(linksOf(html)).toBe(html);
    expect(links).toEqual([{ index: 0, url: HONEYPOT_URL, honeypot: true }]);
  });

  it('does not see links in comments or <style>, but does in Outlook conditional comments', () => {
    const html =
      '<!-- <a href="https://acme.test/commented">c</a> -->' +
      '<style>/* <a href="https://acme.test/styled"> */ a { color: red }</style>' +
      '<!--[if mso]><a href="https://acme.test/outlook">o</a><![endif]-->' +
      '<!--[if !mso]><!--><a href="https://acme.test/others">o</a><!--<![endif]-->';
    expect(
      instrument(html)
        .links.filter((l) => !l.honeypot)
        .map((l) => l.url),
    ).toEqual(['https://acme.test/outlook', 'https://acme.test/others']);
  });

  it('escapes the tracked URL in the attribute', () => {
    const { html } = instrumentHtml('<a href="https://acme.test/">x</a>', {
      linkUrl: () => 'https://t.example/c/"><script>',
      openPixelUrl,
    });
    expect(html).toContain('<a href="https://t.example/c/&quot;&gt;&lt;script&gt;">x</a>');
    expect(html).not.toContain('<script>');
  });

  it('adds a hidden honeypot link after the real ones and a 1×1 pixel, just before </body>', () => {
    const { html, links } = instrumentHtml('<html><body><a href="https://acme.test/">x</a></BODY ></html>', {
      linkUrl,
      openPixelUrl,
      honeypotUrl: (i) => `https://t.example/h/${i}`,
    });
    expect(links[1]).toEqual({ index: 1, url: HONEYPOT_URL, honeypot: true });
    const extras = html.slice(html.indexOf('</a>') + 4, html.indexOf('</BODY >'));
    expect(extras).toBe(
      '<a href="https://t.example/h/1" style="display:none !important;mso-hide:all;font-size:0;line-height:0;' +
        'max-height:0;overflow:hidden" aria-hidden="true" tabindex="-1"></a>' +
        '<img src="https://t.example/o/open&amp;tok" width="1" height="1" alt="" ' +
        'style="display:block;width:1px;height:1px;border:0;margin:0;padding:0">',
    );
    expect(html.endsWith('</BODY ></html>')).toBe(true);
  });

  it('uses the link URL for the honeypot when no honeypot URL is given', () => {
    const { html } = instrument('<a href="https://acme.test/">x</a>');
    expect(html).toContain(`<a href=${tracked(1)} style="display:none`);
  });

  it('appends the honeypot and pixel at the end of a fragment without </body>', () => {
    const { html } = instrument('<p>Hello</p>');
    expect(html.startsWith('<p>Hello</p><a href=')).toBe(true);
    expect(html.endsWith('padding:0">')).toBe(true);
  });
});

describe('instrumentText', () => {
  const links = [
    { index: 0, url: 'https://acme.test/a?x=1&y=2', honeypot: false },
    { index: 1, url: 'https://acme.test/b', honeypot: false },
    { index: 2, url: 'https://acme.test/a?x=1&y=2', honeypot: false },
    { index: 3, url: HONEYPOT_URL, honeypot: true },
  ];
  const text = (i: number) => `https://t.example/c/tok${i}`;

  it('rewrites the URLs of tracked links, the n-th occurrence to the n-th link', () => {
    expect(
      instrumentText(
        'Offer [https://acme.test/a?x=1&y=2]\nMore: https://acme.test/b.\nAgain https://acme.test/a?x=1&y=2 and https://acme.test/a?x=1&y=2',
        links,
        text,
      ),
    ).toBe(`Offer [${text(0)}]\nMore: ${text(1)}.\nAgain ${text(2)} and ${text(0)}`);
  });

  it('leaves URLs of no tracked link, and the honeypot, as they are', () => {
    const plain = `Unsubscribe: https://e.test/u/tok\n${HONEYPOT_URL}\nhttps://acme.test/b/longer`;
    expect(instrumentText(plain, links, text)).toBe(plain);
  });

  it('keeps a bracket that belongs to the URL', () => {
    const wiki = [{ index: 0, url: 'https://en.wikipedia.test/wiki/Mail_(disambiguation)', honeypot: false }];
    expect(instrumentText('(see https://en.wikipedia.test/wiki/Mail_(disambiguation))', wiki, text)).toBe(
      `(see ${text(0)})`,
    );
  });
});

describe('textLinks', () => {
  it('lists the URLs of a text-only message by position, without trailing punctuation', () => {
    const body = 'Go to https://acme.test/a, then (https://acme.test/b). Or https://acme.test/a!';
    const links = textLinks(body);
    expect(links).toEqual([
      { index: 0, url: 'https://acme.test/a', honeypot: false },
      { index: 1, url: 'https://acme.test/b', honeypot: false },
      { index: 2, url: 'https://acme.test/a', honeypot: false },
    ]);
    expect(instrumentText(body, links, (i) => `T${i}`)).toBe('Go to T0, then (T1). Or T2!');
  });
});
