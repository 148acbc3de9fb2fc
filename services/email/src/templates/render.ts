// Per recipient: the Liquid render of a compiled template, and nothing else (no MJML, no CSS
// inlining: this module does not even import them). Bounded in time and size across all parts.
//
// Escaping: the HTML part escapes every {{ }} output (compiled with outputEscape 'escape'), so a
// contact's trait such as `<script>` shows as text and cannot add markup; a template opts out
// with `| raw` for a value it trusts. Subject and text are not HTML, so they are not escaped.
import { Context, LiquidError, toPromise, toValue, type Emitter } from 'liquidjs';
import type { CompiledTemplate, ParsedPart } from './compile';
import { recipientLinksGlobals, type RecipientLinks } from './links';
import { SANDBOX_LIMITS } from './sandbox';

export interface RenderLimits {
  /** For all parts together. */
  timeoutMs: number;
  /** UTF-8 bytes of all parts together. */
  maxBytes: number;
}

export const DEFAULT_RENDER_LIMITS: RenderLimits = { timeoutMs: 200, maxBytes: 512 * 1024 };

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
  override readonly name = 'RenderError';
}

/** RFC 5322's limit on a line; a subject longer than that is cut. */
export const MAX_SUBJECT_LENGTH = 998;

export async function renderEmail(
  compiled: CompiledTemplate,
  ctx: RenderContext,
  limits: RenderLimits = DEFAULT_RENDER_LIMITS,
): Promise<RenderedEmail> {
  const budget = new Budget(limits);
  const links: RecipientLinks = { unsubscribe: ctx.unsubscribeUrl, preferences: ctx.preferencesUrl };
  const render = (part: ParsedPart, name: string) => renderPart(part, name, ctx.vars, links, budget);
  const subject = oneLine(await render(compiled.subject, 'subject'));
  const html = compiled.html ? await render(compiled.html, 'html') : undefined;
  const text = await render(compiled.text, 'text');
  return html === undefined ? { subject, text } : { subject, html, text };
}

/** One line (a newline in a header would start another header), trimmed, at most 998 characters. */
function oneLine(subject: string): string {
  const line = subject.replace(/\s*[\r\n\u2028\u2029]+\s*/g, ' ').trim();
  const chars = Array.from(line);
  return chars.length > MAX_SUBJECT_LENGTH ? chars.slice(0, MAX_SUBJECT_LENGTH).join('') : line;
}

async function renderPart(
  part: ParsedPart,
  name: string,
  vars: Record<string, unknown>,
  links: RecipientLinks,
  budget: Budget,
): Promise<string> {
  // A copy: `{% increment %}` writes to the variables it was given, and they are the caller's.
  const context = new Context({ ...vars }, part.liquid.options, {
    globals: recipientLinksGlobals(links),
    ownPropertyOnly: true,
    strictVariables: false,
    renderLimit: budget.msLeft(),
    memoryLimit: SANDBOX_LIMITS.memoryUnits,
  });
  const output = new BoundedOutput(budget);
  try {
    await toPromise(part.liquid.renderer.renderTemplates(part.templates, context, output));
  } catch (error) {
    throw budget.explain(error, name);
  }
  return output.buffer;
}

/** What is left of the render's time and bytes, shared by its parts. */
class Budget {
  private readonly deadline: number;
  private bytesLeft: number;
  private overSize = false;

  constructor(private readonly limits: RenderLimits) {
    this.deadline = performance.now() + limits.timeoutMs;
    this.bytesLeft = limits.maxBytes;
  }

  msLeft(): number {
    return Math.max(this.deadline - performance.now(), 0);
  }

  spend(bytes: number): void {
    this.bytesLeft -= bytes;
    if (this.bytesLeft < 0) {
      this.overSize = true;
      throw new RenderError('over the size limit');
    }
  }

  /** The RenderError for a failed part: liquidjs wraps what went wrong, so say which limit it was. */
  explain(error: unknown, part: string): Error {
    if (this.overSize) return new RenderError(`the ${part} is over ${this.limits.maxBytes} bytes`);
    if (!LiquidError.is(error)) return error as Error;
    if (/template render limit exceeded/.test(error.message) || performance.now() > this.deadline)
      return new RenderError(`rendering the ${part} took longer than ${this.limits.timeoutMs} ms`);
    if (/memory alloc limit exceeded/.test(error.message))
      return new RenderError(`rendering the ${part} needs too much memory (a loop or filter too large)`);
    return new RenderError(`the ${part} cannot be rendered: ${error.message}`);
  }
}

/** liquidjs's string emitter, counting bytes as they are written so a runaway loop stops early. */
class BoundedOutput implements Emitter {
  buffer = '';

  constructor(private readonly budget: Budget) {}

  write(html: unknown): void {
    const chunk = asText(html);
    this.budget.spend(Buffer.byteLength(chunk));
    this.buffer += chunk;
  }
}

/** How liquidjs writes a value: nothing for nil, arrays joined, Drops by their value. */
function asText(value: unknown): string {
  const v: unknown = toValue(value);
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.map(asText).join('');
  return String(v);
}
