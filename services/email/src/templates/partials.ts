// Includes resolve only among the org's partials, and only by a name written in the template:
// a name computed per recipient (`{% include name %}`) could reach a partial nobody validated.
import { IncludeTag, LayoutTag, RenderTag, toValueSync, type Liquid, type Template } from 'liquidjs';
import { TemplateError, liquidTemplateError, positionAt, type TemplateField } from './template-error';

/**
 * Throws a TemplateError for an include, render or layout of anything but one of `partials` by its
 * literal name; follows the partials included (each parsed once) so that their errors show at save.
 */
export function checkPartials(
  field: TemplateField,
  templates: Template[],
  partials: Readonly<Record<string, string>>,
  liquid: Liquid,
): void {
  const checked = new Set<string>();
  const visit = (nodes: Template[], inPartial: string | undefined) => {
    for (const node of nodes) {
      const name = partialName(node);
      if (name !== undefined) {
        // `./x` and `../x` liquidjs would resolve against the including partial, not by this name.
        const known = typeof name === 'string' && !/^\.\.?\//.test(name) && Object.hasOwn(partials, name);
        const source = known ? partials[name] : undefined;
        if (typeof name !== 'string' || source === undefined)
          throw unknownPartial(field, node, name, inPartial);
        if (!checked.has(name)) {
          checked.add(name);
          visit(parsePartial(field, name, source, liquid), name);
        }
      }
      if (node.children) visit(toValueSync(node.children(false, true)), inPartial);
    }
  };
  visit(templates, undefined);
}

/** The partial a tag includes: a string when written literally, another value when computed. */
function partialName(node: Template): unknown {
  if (!(node instanceof IncludeTag || node instanceof RenderTag || node instanceof LayoutTag))
    return undefined;
  // liquidjs keeps the parsed name in a field its typings mark private; undefined is `none`.
  return (node as unknown as { file?: unknown }).file;
}

function unknownPartial(field: TemplateField, node: Template, name: unknown, inPartial?: string) {
  const reason =
    typeof name === 'string'
      ? `unknown partial "${name}"`
      : `partial names must be written as a quoted name, e.g. {% include 'footer' %}`;
  if (inPartial !== undefined)
    return new TemplateError(field, undefined, undefined, `partial "${inPartial}": ${reason}`);
  const { line, column } = positionAt(node.token.input, node.token.begin);
  return new TemplateError(field, line, column, reason);
}

function parsePartial(field: TemplateField, name: string, source: string, liquid: Liquid): Template[] {
  try {
    return liquid.parse(source, name);
  } catch (error) {
    const inner = liquidTemplateError(field, error);
    const where = inner.line === undefined ? '' : ` line ${inner.line}, column ${inner.column}`;
    throw new TemplateError(field, undefined, undefined, `partial "${name}"${where}: ${inner.reason}`);
  }
}
