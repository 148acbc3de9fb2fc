// Per template version, not per recipient: MJML to HTML, CSS inlined, the text part derived.
// The Liquid in the source passes through untouched; it is rendered per recipient later.
import { convert } from 'html-to-text';
import juice from 'juice';
import mjml2html from 'mjml';
import { keepingLiquid } from './liquid-markup';
import { TemplateError } from './template-error';

type MjmlFailure = Error & { errors?: { line?: number; message: string }[] };

/** MJML to HTML (mjml 5 is async). Strict: an invalid document is a TemplateError at its line. */
export async function htmlFromMjml(source: string): Promise<string> {
  try {
    const { html } = await mjml2html(source, {
      validationLevel: 'strict',
      // No file system: mj-include is dropped, no .mjmlconfig is read, and an empty filePath
      // keeps the parser from even looking at the working directory.
      ignoreIncludes: true,
      useMjmlConfigOptions: false,
      filePath: '',
    });
    return html;
  } catch (error) {
    const { errors } = error as MjmlFailure;
    if (errors?.length) {
      const [first] = errors;
      const reason = errors.map((e) => (e.line === undefined ? e.message : `line ${e.line}: ${e.message}`));
      throw new TemplateError('html', first?.line, undefined, `MJML: ${reason.join('; ')}`);
    }
    throw new TemplateError('html', undefined, undefined, `MJML: ${(error as Error).message}`);
  }
}

/**
 * `<style>` rules inlined into `style` attributes (mail clients drop or ignore head styles); media
 * queries and other rules that cannot be inlined stay in a `<style>`. juice's plain call reads no
 * file and fetches no stylesheet (juiceResources would).
 */
export function inlineCss(html: string): string {
  if (!/<style[\s>]/i.test(html)) return html;
  return keepingLiquid(html, (hidden) => juice(hidden));
}

/** The text part for an HTML part without one: readable text, links as `label [URL]`. */
export function textFromHtml(html: string): string {
  return keepingLiquid(html, (hidden) =>
    convert(hidden, {
      // Unwrapped: a per-recipient value changes the line lengths anyway.
      wordwrap: false,
      selectors: [
        { selector: 'img', format: 'skip' },
        { selector: 'a', options: { hideLinkHrefIfSameAsText: true } },
        // Upper-casing a heading would change the Liquid in it too, and the rendered value not.
        ...['h1', 'h2', 'h3', 'h4', 'h5', 'h6'].map((selector) => ({
          selector,
          options: { uppercase: false },
        })),
      ],
    }),
  );
}
