// HTML tools do not know Liquid: a parser reads `{% if a < b %}` as the start of a tag, and a
// text converter wraps or changes what sits inside `{{ }}`. So Liquid is swapped for inert words
// while they work, and put back afterwards, exactly as written.
/** A Liquid output `{{ }}` or tag `{% %}`, as written. */
export const LIQUID = /\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}/g;

/** Runs `transform` on `html` with every Liquid tag and output kept out of its reach. */
export function keepingLiquid(html: string, transform: (html: string) => string): string {
  // A prefix the source does not contain, so no text of the author's is mistaken for a placeholder.
  let prefix = 'cmisliq';
  while (html.toLowerCase().includes(prefix)) prefix += 'x';
  const tokens: string[] = [];
  const indexOf = new Map<string, number>();
  const hidden = html.replace(LIQUID, (liquid) => {
    let index = indexOf.get(liquid);
    if (index === undefined) {
      index = tokens.push(liquid) - 1;
      indexOf.set(liquid, index);
    }
    // Lower-case letters and digits: valid in a CSS value, an attribute name or a URL, and
    // unchanged by parsers that lower-case attribute names.
    return `${prefix}${index}q`;
  });
  if (tokens.length === 0) return transform(html);
  // `=""`: a placeholder that stood where an attribute goes may come back as an empty attribute.
  const placeholder = new RegExp(`${prefix}(\\d+)q(="")?`, 'gi');
  return transform(hidden).replace(placeholder, (match, index: string) => tokens[Number(index)] ?? match);
}
