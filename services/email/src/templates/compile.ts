// Compiling a template version, once: MJML to HTML (no includes from disk), CSS inlined (juice),
// the text part derived from the HTML unless given, then each part parsed as Liquid. Rendering a
// recipient's copy (render.ts) only runs the parsed Liquid. The Liquid engine is sandboxed: no
// file system (includes resolve among the org's partials only), unknown filters and tags are
// errors at save, and render time and output size are bounded.
import { convert } from 'html-to-text';
import juice from 'juice';
import { Liquid, type Template } from 'liquidjs';
import mjml2html from 'mjml';
import { registerCmisTags } from './tags';

export interface TemplateContent {
  subject: string;
  html?: string;
  text?: string;
  mjml?: boolean;
}

export type TemplateField = 'subject' | 'html' | 'text';

/** A template that does not compile: the field, and where in it. */
export class TemplateError extends Error {
  override name = 'TemplateError';
  constructor(
    readonly field: TemplateField,
    readonly line: number | undefined,
    readonly column: number | undefined,
    detail: string,
  ) {
    super(
      `${field}${line !== undefined ? ` line ${line}${column !== undefined ? `, column ${column}` : ''}` : ''}: ${detail}`,
    );
  }
}

export interface CompiledTemplate {
  engine: Liquid;
  subject: Template[];
  html?: Template[];
  text: Template[];
  /** Whether the text part was derived from the HTML (its URLs then come from the HTML's links). */
  textDerived: boolean;
}

/** Liquid's bounds on one render: milliseconds of rendering, and memory units of its values. */
export const RENDER_LIMIT_MS = 200;
const MEMORY_LIMIT = 20_000_000;
const PARSE_LIMIT = 2_000_000;

export function createEngine(partials: Readonly<Record<string, string>>): Liquid {
  const engine = new Liquid({
    // In memory only: liquidjs reads these instead of any file system.
    templates: { ...partials },
    relativeReference: false,
    strictFilters: true,
    ownPropertyOnly: true,
    renderLimit: RENDER_LIMIT_MS,
    memoryLimit: MEMORY_LIMIT,
    parseLimit: PARSE_LIMIT,
    cache: true,
  });
  registerCmisTags(engine);
  return engine;
}

/** Line and column from a liquidjs error ("…, line:2, col:5"). */
function positionOf(error: unknown): [number | undefined, number | undefined] {
  const token = (error as { token?: { getPosition?: () => number[] } }).token;
  const pos = token?.getPosition?.();
  if (pos && pos.length >= 2) return [pos[0], pos[1]];
  const m = /line:(\d+), col:(\d+)/.exec(String((error as Error).message));
  return m ? [Number(m[1]), Number(m[2])] : [undefined, undefined];
}

const messageOf = (error: unknown) => String((error as Error).message).replace(/, line:\d+, col:\d+$/, '');

function parse(engine: Liquid, field: TemplateField, source: string): Template[] {
  try {
    return engine.parse(source);
  } catch (error) {
    const [line, column] = positionOf(error);
    throw new TemplateError(field, line, column, messageOf(error));
  }
}

async function mjmlToHtml(source: string): Promise<string> {
  try {
    // ignoreIncludes: an mj-include would read the server's disk.
    const result = await mjml2html(source, {
      validationLevel: 'strict',
      ignoreIncludes: true,
      keepComments: false,
    });
    return result.html;
  } catch (error) {
    const first = (error as { details?: Array<{ line?: number; message?: string }> }).details?.[0];
    throw new TemplateError('html', first?.line, undefined, first?.message ?? messageOf(error));
  }
}

export async function compileTemplate(
  content: TemplateContent,
  partials: Readonly<Record<string, string>>,
): Promise<CompiledTemplate> {
  if (!content.html && !content.text)
    throw new TemplateError('html', undefined, undefined, 'html or text is required');
  const engine = createEngine(partials);
  let html: string | undefined;
  if (content.html) {
    // Liquid first is checked on the author's source, so its line numbers are the author's.
    parse(engine, 'html', content.html);
    html = content.mjml ? await mjmlToHtml(content.html) : content.html;
    html = juice(html, { preserveImportant: true, applyAttributesTableElements: true });
  }
  const textDerived = !content.text;
  const text =
    content.text ?? convert(html!, { wordwrap: 100, selectors: [{ selector: 'img', format: 'skip' }] });
  const compiled: CompiledTemplate = {
    engine,
    subject: parse(engine, 'subject', content.subject),
    ...(html !== undefined ? { html: parse(engine, 'html', html) } : {}),
    text: parse(engine, 'text', text),
    textDerived,
  };
  // A trial render finds includes of partials the org does not have, and errors of values.
  try {
    await engine.render(compiled.subject, { contact: {} });
    if (compiled.html)
      await engine.render(compiled.html, {
        contact: {},
        __cmis: { unsubscribeUrl: '#', preferencesUrl: '#', html: true },
      });
  } catch (error) {
    const [line, column] = positionOf(error);
    throw new TemplateError(compiled.html ? 'html' : 'subject', line, column, messageOf(error));
  }
  return compiled;
}
