// A template that cannot be saved: the 400 at save, naming the part and where in it the author
// went wrong, so an editor can put the cursor there.
import { LiquidError, type Token } from 'liquidjs';

export type TemplateField = 'subject' | 'html' | 'text';

export class TemplateError extends Error {
  override readonly name = 'TemplateError';

  /** `reason` is the bare cause; `message` prefixes it with the place: `html line 3, column 7: …`. */
  constructor(
    readonly field: TemplateField,
    readonly line: number | undefined,
    readonly column: number | undefined,
    readonly reason: string,
  ) {
    super(`${field}${place(line, column)}: ${reason}`);
  }
}

const place = (line?: number, column?: number) =>
  line === undefined ? '' : column === undefined ? ` line ${line}` : ` line ${line}, column ${column}`;

/** liquidjs appends `, line:2, col:1` (and the file) to its messages; we report those apart. */
const LIQUID_POSITION = /(, file:[^,]*)?, line:\d+, col:\d+$/;

/**
 * The TemplateError for a liquidjs parse error in `field`. An unknown filter is placed at its own
 * name rather than at the start of the `{{ }}` it sits in, which is where liquidjs points.
 */
export function liquidTemplateError(field: TemplateField, error: unknown): TemplateError {
  if (!LiquidError.is(error)) throw error;
  const reason = error.message.replace(LIQUID_POSITION, '');
  const token = (error as LiquidError & { token?: Token }).token;
  if (!token) return new TemplateError(field, undefined, undefined, reason);
  const { line, column } = positionAt(token.input, filterOffset(token, reason) ?? token.begin);
  return new TemplateError(field, line, column, reason);
}

function filterOffset(token: Token, reason: string): number | undefined {
  const name = /^undefined filter: (\S+)$/.exec(reason)?.[1];
  if (!name) return undefined;
  const text = token.input.slice(token.begin, token.end);
  const at = new RegExp(`\\|\\s*(${escapeRegExp(name)})\\b`).exec(text);
  return at ? token.begin + at.index + at[0].length - name.length : undefined;
}

/** 1-based line and column of `offset` in `input`. */
export function positionAt(input: string, offset: number): { line: number; column: number } {
  const before = input.slice(0, offset);
  const lineStart = before.lastIndexOf('\n') + 1;
  return { line: before.split('\n').length, column: offset - lineStart + 1 };
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
