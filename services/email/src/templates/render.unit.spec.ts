// The compile-time tools, wrapped so the spec sees every call: rendering must make none.
jest.mock('mjml', () => jest.fn(jest.requireActual<typeof import('mjml')>('mjml')));
jest.mock('juice', () => jest.fn(jest.requireActual<typeof import('juice')>('juice')));
jest.mock('html-to-text', () => ({
  convert: jest.fn(jest.requireActual<typeof import('html-to-text')>('html-to-text').convert),
}));

import { convert } from 'html-to-text';
import juice from 'juice';
import mjml2html from 'mjml';
import { compileTemplate, type TemplateContent } from './compile';
import { DEFAULT_RENDER_LIMITS, renderEmail, RenderError, type RenderContext } from './render';

const links = {
  unsubscribeUrl: 'https://e.example/u/tok?a=1&b=2',
  preferencesUrl: 'https://e.example/p/tok',
};
const recipient = (vars: Record<string, unknown> = {}): RenderContext => ({ vars, ...links });
const render = async (content: TemplateContent, vars = {}, partials = {}, limits = DEFAULT_RENDER_LIMITS) =>
  renderEmail(await compileTemplate(content, partials), recipient(vars), limits);

async function renderError(promise: Promise<unknown>): Promise<RenderError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RenderError);
  return error as RenderError;
}

describe('renderEmail', () => {
  it('renders per recipient without MJML, CSS inlining or HTML-to-text', async () => {
    const mjml =
      '<mjml><mj-head><mj-style inline="inline">.x { color: red; }</mj-style></mj-head><mj-body>' +
      '<mj-section><mj-column><mj-text css-class="x">Hi {{ contact.name }}</mj-text>' +
      '<mj-button href="{{ shopUrl }}">Shop</mj-button></mj-column></mj-section></mj-body></mjml>';
    const compiled = await compileTemplate({ subject: 'For {{ contact.name }}', html: mjml, mjml: true }, {});
    // MJML inlines its mj-style with the same juice.
    expect([mjml2html, juice, convert].map((tool) => (tool as jest.Mock).mock.calls.length)).toEqual([
      1, 1, 1,
    ]);
    jest.clearAllMocks();

    const first = await renderEmail(
      compiled,
      recipient({ contact: { name: 'Ann' }, shopUrl: 'https://shop/a' }),
    );
    const second = await renderEmail(
      compiled,
      recipient({ contact: { name: 'Bo' }, shopUrl: 'https://shop/b' }),
    );

    expect(first.html).toMatch(/class="x" style="color: red;[^>]*>[\s\S]*Hi Ann/);
    expect(first.html).toContain('href="https://shop/a"');
    expect(first.text).toContain('Shop [https://shop/a]');
    expect(second.subject).toBe('For Bo');
    expect(second.html).toContain('Hi Bo');
    expect(mjml2html).not.toHaveBeenCalled();
    expect(juice).not.toHaveBeenCalled();
    expect(convert).not.toHaveBeenCalled();
  });

  it('escapes a contact’s trait in the HTML, not in the text or the subject', async () => {
    const trait = '<script>alert(1)</script> & co';
    const email = await render(
      {
        subject: 'Hi {{ name }}',
        html: '<p>{{ name }}</p><div>{{ block | raw }}</div>',
        text: 'Hi {{ name }}',
      },
      { name: trait, block: '<b>trusted</b>' },
    );
    expect(email.html).toBe('<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</p><div><b>trusted</b></div>');
    expect(email.text).toBe(`Hi ${trait}`);
    expect(email.subject).toBe(`Hi ${trait}`);
  });

  it('collapses newlines in the subject, trims it and cuts it at 998 characters', async () => {
    const email = await render(
      { subject: '  Hi {{ name }}\r\n\r\nBcc: x@evil.example  ', text: 'x' },
      { name: 'Ann' },
    );
    expect(email.subject).toBe('Hi Ann Bcc: x@evil.example');
    const long = await render({ subject: '{{ s }}', text: 'x' }, { s: 'é'.repeat(1200) });
    expect(long.subject).toBe('é'.repeat(998));
  });

  it('writes the unsubscribe and preferences links, as anchors in HTML and as text in text', async () => {
    const email = await render({
      subject: 'Hi',
      html: '<p>{% unsubscribe_link %} · {% preferences_link "Choose <what> you get" %}</p>',
    });
    expect(email.html).toBe(
      '<p><a href="https://e.example/u/tok?a=1&amp;b=2" data-cmis-untracked>Unsubscribe</a> · ' +
        '<a href="https://e.example/p/tok" data-cmis-untracked>Choose &lt;what&gt; you get</a></p>',
    );
    expect(email.text).toBe(
      'Unsubscribe: https://e.example/u/tok?a=1&b=2 · Choose <what> you get: https://e.example/p/tok',
    );
    const given = await render(
      { subject: 'Hi', text: '{% unsubscribe_link label %}' },
      { label: 'Stop these' },
    );
    expect(given.text).toBe('Stop these: https://e.example/u/tok?a=1&b=2');
  });

  it('renders an org’s partial into the HTML, and as text into the derived text', async () => {
    const email = await render(
      { subject: 'Hi', html: "<p>Hi</p>{% include 'footer' %}" },
      { org: 'Acme <3' },
      { footer: '<footer><p>Sent by <b>{{ org }}</b></p></footer>' },
    );
    expect(email.html).toBe('<p>Hi</p><footer><p>Sent by <b>Acme &lt;3</b></p></footer>');
    expect(email.text).toBe('Hi\n\nSent by Acme <3');
  });

  it('stops a render that runs too long', async () => {
    const started = performance.now();
    const loop = '{% for i in (1..5000) %}{% for j in (1..1000) %}{% endfor %}{% endfor %}';
    const error = await renderError(
      render({ subject: 'Hi', text: loop }, {}, {}, { timeoutMs: 50, maxBytes: 1024 }),
    );
    expect(error.message).toBe('rendering the text took longer than 50 ms');
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('stops a huge loop at once', async () => {
    const started = performance.now();
    const error = await renderError(
      render({ subject: 'Hi', text: '{% for i in (1..100000000) %}x{% endfor %}' }),
    );
    expect(error.message).toMatch(/^rendering the text needs too much memory/);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('stops output over the size limit, counting all parts in bytes', async () => {
    const content = { subject: 'Hi', html: '{% for i in (1..600) %}{{ s }}{% endfor %}', text: 'short' };
    const error = await renderError(render(content, { s: 'é'.repeat(500) }));
    expect(error.message).toBe(`the html is over ${512 * 1024} bytes`);
    const fits = { timeoutMs: 200, maxBytes: 10 };
    await expect(render({ subject: 'Hi', text: '12345678' }, {}, {}, fits)).resolves.toMatchObject({
      text: '12345678',
    });
    await expect(render({ subject: 'Hi', text: '123456789' }, {}, {}, fits)).rejects.toThrow(
      new RenderError('the text is over 10 bytes'),
    );
  });

  it('reads only the variables’ own properties', async () => {
    const email = await render(
      { subject: 'Hi', text: '[{{ contact.constructor }}][{{ contact.name }}]' },
      {
        contact: Object.assign(Object.create({ inherited: 'x' }), { name: 'Ann' }),
      },
    );
    expect(email.text).toBe('[][Ann]');
  });
});
