// A template version compiled once: validated (a TemplateError names the part, line and column),
// MJML turned into HTML, CSS inlined, the text part derived, and every part parsed by Liquid.
// What is left per recipient is the Liquid render (render.ts).
import type { Liquid, Template } from 'liquidjs';
import { htmlFromMjml, inlineCss, textFromHtml } from './html';
import { LIQUID } from './liquid-markup';
import { checkPartials } from './partials';
import { createSandbox } from './sandbox';
import { TemplateError, liquidTemplateError, positionAt, type TemplateField } from './template-error';

export { TemplateError, type TemplateField } from './template-error';

export interface TemplateContent {
  subject: string;
  html?: string;
  text?: string;
  /** The html is MJML. */
  mjml?: boolean;
}

/** A part parsed by the engine it renders with: its escaping, its partials, its link format. */
export interface ParsedPart {
  readonly liquid: Liquid;
  readonly templates: Template[];
}

export interface CompiledTemplate {
  subject: ParsedPart;
  html?: ParsedPart;
  text: ParsedPart;
  /** The HTML after MJML and CSS inlining, its Liquid intact. */
  htmlSource?: string;
  /** The text part as given, or as derived from htmlSource. */
  textSource: string;
}

export async function compileTemplate(
  content: TemplateContent,
  partials: Readonly<Record<string, string>>,
): Promise<CompiledTemplate> {
  if (content.html === undefined && content.text === undefined)
    throw new TemplateError('html', undefined, undefined, 'a template needs an html or a text part');
  const plain = createSandbox({ partials, format: 'text' });
  const markup = createSandbox({ partials, format: 'html' });

  // Checked as written, so that errors point at the author's lines, not at MJML's output.
  const subject = parse('subject', content.subject, plain, partials);
  if (content.html !== undefined) parse('html', content.html, markup, partials);
  const givenText = content.text === undefined ? undefined : parse('text', content.text, plain, partials);

  const htmlSource = content.html === undefined ? undefined : await compileHtml(content.html, content.mjml);
  const html = htmlSource === undefined ? undefined : parseCompiled(htmlSource, markup);
  if (givenText && content.text !== undefined)
    return { subject, html, text: givenText, htmlSource, textSource: content.text };

  // Derived text includes partials where the HTML did; they are HTML too, so they become text.
  const textSource = textFromHtml(htmlSource!);
  const textPartials = Object.fromEntries(
    Object.entries(partials).map(([name, p]) => [name, textFromHtml(p)]),
  );
  const text = parseCompiled(textSource, createSandbox({ partials: textPartials, format: 'text' }), 'text');
  return { subject, html, text, htmlSource, textSource };
}

function parse(
  field: TemplateField,
  source: string,
  liquid: Liquid,
  partials: Readonly<Record<string, string>>,
): ParsedPart {
  let templates: Template[];
  try {
    templates = liquid.parse(source);
  } catch (error) {
    throw liquidTemplateError(field, error);
  }
  checkPartials(field, templates, partials, liquid);
  return { liquid, templates };
}

async function compileHtml(source: string, mjml: boolean | undefined): Promise<string> {
  if (!mjml) return inlineCss(source);
  // MJML inlines `<mj-style inline="inline">` itself and keeps the other styles in the head on
  // purpose (media queries), so its output is not inlined again.
  const html = await htmlFromMjml(source);
  checkLiquidKept(source, html);
  return html;
}

/**
 * MJML silently drops what it does not expect, such as `{% if %}` between two mj-sections (it
 * belongs in an mj-raw). A lost tag would change who sees what, so it is an error at save.
 */
function checkLiquidKept(source: string, html: string): void {
  const left = new Map<string, number>();
  for (const [liquid] of html.matchAll(LIQUID)) left.set(liquid, (left.get(liquid) ?? 0) + 1);
  for (const match of source.matchAll(LIQUID)) {
    const count = left.get(match[0]) ?? 0;
    if (count > 0) {
      left.set(match[0], count - 1);
      continue;
    }
    const { line, column } = positionAt(source, match.index);
    throw new TemplateError(
      'html',
      line,
      column,
      `MJML dropped ${match[0]}; put Liquid that stands between MJML elements in an <mj-raw>`,
    );
  }
}

/** Sources we produced: they parsed as written, so an error here is MJML's or ours, not at a line. */
function parseCompiled(source: string, liquid: Liquid, field: TemplateField = 'html'): ParsedPart {
  try {
    return { liquid, templates: liquid.parse(source) };
  } catch (error) {
    const { reason } = liquidTemplateError(field, error);
    throw new TemplateError(field, undefined, undefined, `after compiling the HTML: ${reason}`);
  }
}
