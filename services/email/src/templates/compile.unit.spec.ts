import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileTemplate, TemplateError, type TemplateContent } from './compile';
import { createSandbox } from './sandbox';

const noPartials = {};

async function refusal(content: TemplateContent, partials: Record<string, string> = noPartials) {
  const error = await compileTemplate(content, partials).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TemplateError);
  return error as TemplateError;
}

describe('compileTemplate: what is refused at save', () => {
  it('a Liquid parse error names the part, line and column', async () => {
    const error = await refusal({ subject: 'Hi {{ contact.name', text: 'x' });
    expect([error.field, error.line, error.column]).toEqual(['subject', 1, 4]);
    expect(error.message).toBe('subject line 1, column 4: output "{{ contact.name" not closed');
  });

  it('an unknown filter is placed at its name', async () => {
    const error = await refusal({ subject: 'Hi', html: '<p>\n  {{ contact.name | shout }}</p>' });
    expect(error.message).toBe('html line 2, column 21: undefined filter: shout');
    expect([error.field, error.line, error.column]).toEqual(['html', 2, 21]);
  });

  it('an unknown tag, and a tag left open', async () => {
    expect((await refusal({ subject: 'Hi', text: 'a\n\n  {% iff x %}' })).message).toBe(
      'text line 3, column 3: tag "iff" not found',
    );
    const open = await refusal({ subject: 'Hi', text: 'a {% if x %}b' });
    expect([open.field, open.line, open.column]).toEqual(['text', 1, 3]);
  });

  it('a template with neither html nor text', async () => {
    expect((await refusal({ subject: 'Hi' })).message).toBe('html: a template needs an html or a text part');
  });

  it('a link tag with more than a label', async () => {
    const error = await refusal({ subject: 'Hi', text: '{% unsubscribe_link "Stop" "now" %}' });
    expect(error.message).toMatch(/^text line 1, column 1: unsubscribe_link takes one label/);
  });
});

describe('compileTemplate: partials are the org’s own, and nothing else', () => {
  const partials = { footer: '<p>Sent by {{ org }}</p>', nested: "{% include 'missing' %}" };

  it('includes and renders an org’s partial by its name', async () => {
    await expect(
      compileTemplate(
        { subject: 'Hi', html: "{% include 'footer' %}{% render 'footer', org: 'x' %}" },
        partials,
      ),
    ).resolves.toBeDefined();
  });

  it.each([
    ["{% include 'header' %}", 'unknown partial "header"'],
    ["{% include '/etc/passwd' %}", 'unknown partial "/etc/passwd"'],
    ["{% include '../footer' %}", 'unknown partial "../footer"'],
    ["{% render './footer' %}", 'unknown partial "./footer"'],
    ["{% include 'constructor' %}", 'unknown partial "constructor"'],
    ["{% layout 'nope' %}x", 'unknown partial "nope"'],
    ['{% include name %}', 'partial names must be written as a quoted name'],
    ["{% render 'foot{{ er }}' %}", 'partial names must be written as a quoted name'],
  ])('%s is refused', async (html, reason) => {
    const error = await refusal({ subject: 'Hi', html: `<p>\n ${html}` }, partials);
    expect([error.line, error.column]).toEqual([2, 2]);
    expect(error.message).toContain(reason);
  });

  it('an error inside an included partial names the partial', async () => {
    const error = await refusal({ subject: 'Hi', text: "{% include 'nested' %}" }, partials);
    expect(error.message).toBe('text: partial "nested": unknown partial "missing"');
    const bad = await refusal({ subject: 'Hi', text: "{% include 'bad' %}" }, { bad: 'a\n{{ x | nope }}' });
    expect(bad.message).toBe('text: partial "bad" line 2, column 8: undefined filter: nope');
  });

  it('a file on disk is never read, by the check or by the engine itself', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cmis-template-'));
    const file = join(dir, 'secret.liquid');
    writeFileSync(file, 'SECRET');
    try {
      expect((await refusal({ subject: 'Hi', text: `{% include '${file}' %}` })).message).toContain(
        `unknown partial "${file}"`,
      );
      // Past our check too: liquidjs's map of templates replaces its file system.
      const liquid = createSandbox({ partials: {}, format: 'text' });
      await expect(liquid.parseAndRender(`{% include '${file}' %}`)).rejects.toThrow(/ENOENT/);
      await expect(liquid.parseAndRender(`{% render '${file}' %}`)).rejects.toThrow(/ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const MJML = `<mjml>
  <mj-head><mj-style inline="inline">.shout { color: red; }</mj-style></mj-head>
  <mj-body>
    <mj-section><mj-column>
      <mj-text css-class="shout">Hello {{ contact.name }}{% if cart.total < 50 %}, almost there{% endif %}</mj-text>
      <mj-button href="{{ shopUrl }}?from=email&amp;x=1">Shop</mj-button>
    </mj-column></mj-section>
    <mj-raw>{% if vip %}</mj-raw>
    <mj-section><mj-column><mj-text>For VIPs</mj-text></mj-column></mj-section>
    <mj-raw>{% endif %}</mj-raw>
  </mj-body>
</mjml>`;

describe('compileTemplate: MJML, CSS and the text part, once per version', () => {
  it('compiles MJML to HTML with the mj-style inlined and every Liquid tag intact', async () => {
    const { htmlSource, textSource } = await compileTemplate(
      { subject: 'Hi', html: MJML, mjml: true },
      noPartials,
    );
    expect(htmlSource).not.toMatch(/<\/?mj-/);
    expect(htmlSource).toMatch(/class="shout" style="color: red;/);
    expect(htmlSource).toContain('Hello {{ contact.name }}{% if cart.total < 50 %}, almost there{% endif %}');
    expect(htmlSource).toContain('href="{{ shopUrl }}?from=email&amp;x=1"');
    expect(htmlSource).toMatch(/\{% if vip %\}[\s\S]*For VIPs[\s\S]*\{% endif %\}/);
    expect(textSource).toContain('Hello {{ contact.name }}{% if cart.total < 50 %}, almost there{% endif %}');
    expect(textSource).toContain('Shop [{{ shopUrl }}?from=email&x=1]');
  });

  it('refuses Liquid that MJML would drop (between sections, outside an mj-raw)', async () => {
    const dropped = MJML.replace('<mj-raw>{% if vip %}</mj-raw>', '{% if vip %}');
    const error = await refusal({ subject: 'Hi', html: dropped, mjml: true });
    expect([error.line, error.column]).toEqual([8, 5]);
    expect(error.message).toContain('MJML dropped {% if vip %}');
  });

  it('an invalid MJML document is refused at its line', async () => {
    const html = '<mjml><mj-body>\n<mj-section>\n<mj-text>x</mj-text></mj-section></mj-body></mjml>';
    const error = await refusal({ subject: 'Hi', html, mjml: true });
    expect([error.field, error.line]).toEqual(['html', 3]);
    expect(error.message).toMatch(/^html line 3: MJML: line 3: mj-text cannot be used inside mj-section/);
  });

  it('an mj-include is not followed to the file system', async () => {
    const html = '<mjml><mj-body><mj-include path="/etc/passwd" /></mj-body></mjml>';
    const { htmlSource } = await compileTemplate({ subject: 'Hi', html, mjml: true }, noPartials);
    expect(htmlSource).not.toContain('root:');
  });

  it('inlines a <style> block into plain HTML, leaving Liquid in attributes, tags and text alone', async () => {
    const html =
      '<style>a.cta { color: green } @media (max-width: 400px) { a.cta { color: blue } }</style>' +
      '<h1>Hello {{ contact.name }}</h1>' +
      '<p>{% if a<b %}<a class="cta" href="{{ shopUrl }}?a=1&b=2" style="font-size: {{ size }}px">Shop</a>{% endif %}</p>' +
      '<table><tr><td {% if vip %}class="vip"{% endif %}>Thanks</td></tr></table>';
    const { htmlSource, textSource } = await compileTemplate({ subject: 'Hi', html }, noPartials);
    expect(htmlSource).toContain(
      '<a class="cta" href="{{ shopUrl }}?a=1&b=2" style="color: green; font-size: {{ size }}px;">Shop</a>',
    );
    // Unprotected, an HTML parser reads `<b %}` as a tag and `{%` as an attribute.
    expect(htmlSource).toContain('<p>{% if a<b %}<a');
    expect(htmlSource).toMatch(/<td \{% if vip %\}class="vip" ?\{% endif %\}>Thanks<\/td>/);
    expect(htmlSource).toMatch(/<style>\s*@media \(max-width: 400px\)/);
    expect(htmlSource!.match(/color: green/g)).toHaveLength(1);
    expect(textSource).toBe(
      'Hello {{ contact.name }}\n\n{% if a<b %}Shop [{{ shopUrl }}?a=1&b=2]{% endif %}\n\nThanks',
    );
  });

  it('keeps a text part given as it is', async () => {
    const compiled = await compileTemplate(
      { subject: 'Hi', html: '<p>Hi</p>', text: 'Plain {{ x }}' },
      noPartials,
    );
    expect(compiled.textSource).toBe('Plain {{ x }}');
  });
});
