// One recipient's copy of a compiled template: Liquid only (MJML, CSS inlining and the text part
// were done once, at compile). Values in the HTML are escaped, so a contact's traits cannot inject
// markup; the subject and text are plain text. Output size is bounded, time by the engine.
import type { CompiledTemplate } from './compile';

export interface RenderLimits {
  maxBytes: number;
}

export const DEFAULT_RENDER_LIMITS: RenderLimits = { maxBytes: 512 * 1024 };

export interface RenderContext {
  vars: Record<string, unknown>;
  unsubscribeUrl: string;
  preferencesUrl: string;
}

export interface RenderedEmail {
  subject: string;
  html?: string;
  text: string;
}

export class RenderError extends Error {
  override name = 'RenderError';
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
const escapeHtml = (value: unknown) =>
  typeof value === 'string' ? value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!) : value;

/** Every string inside `value`, HTML-escaped (a copy; the input is not changed). */
function escapedDeep(value: unknown, depth = 0): unknown {
  if (depth > 20) return undefined;
  if (typeof value === 'string') return escapeHtml(value);
  if (Array.isArray(value)) return value.map((v) => escapedDeep(v, depth + 1));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = escapedDeep(v, depth + 1);
    return out;
  }
  return value;
}

export async function renderEmail(
  compiled: CompiledTemplate,
  ctx: RenderContext,
  limits: RenderLimits = DEFAULT_RENDER_LIMITS,
): Promise<RenderedEmail> {
  const { engine } = compiled;
  const links = { unsubscribeUrl: ctx.unsubscribeUrl, preferencesUrl: ctx.preferencesUrl };
  const run = async (templates: typeof compiled.text, vars: Record<string, unknown>) => {
    let out: string;
    try {
      out = (await engine.render(templates, vars)) as string;
    } catch (error) {
      throw new RenderError(`rendering failed: ${(error as Error).message}`);
    }
    if (Buffer.byteLength(out) > limits.maxBytes)
      throw new RenderError(`the rendered message is over ${limits.maxBytes} bytes`);
    return out;
  };
  const subject = (await run(compiled.subject, { ...ctx.vars, __cmis: links }))
    .replace(/[\r\n]+/g, ' ')
    .trim()
    .slice(0, 998);
  const html = compiled.html
    ? await run(compiled.html, {
        ...(escapedDeep(ctx.vars) as Record<string, unknown>),
        __cmis: { ...links, html: true },
      })
    : undefined;
  const text = await run(compiled.text, { ...ctx.vars, __cmis: links });
  return { subject, ...(html !== undefined ? { html } : {}), text };
}
