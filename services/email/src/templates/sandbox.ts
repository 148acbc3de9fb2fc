// The Liquid engine a template runs in. Sandboxed: partials come from the org's own, in memory
// (liquidjs's `templates` option replaces its file system with a map; it never opens a file),
// filters and tags are the built-in ones plus ours, and parse, memory and render time are bounded.
import { Liquid } from 'liquidjs';
import { registerLinkTags, type LinkFormat } from './links';

export const SANDBOX_LIMITS = {
  /** Characters one engine parses in all: the template's parts and the partials it includes. */
  parseChars: 4_000_000,
  /** liquidjs's allocation units (string lengths, array sizes) one render may use. */
  memoryUnits: 10_000_000,
  /** Fallback only: renderEmail passes its own time limit to every render. */
  renderMs: 1_000,
} as const;

export type SandboxOptions = {
  /** The org's partials by name, as `{% include 'name' %}` and `{% render 'name' %}` find them. */
  partials: Readonly<Record<string, string>>;
  /** HTML escapes every `{{ }}` output (use `| raw` to opt out); text and subject do not. */
  format: LinkFormat;
};

export function createSandbox({ partials, format }: SandboxOptions): Liquid {
  const liquid = new Liquid({
    // A prototype-less copy: liquidjs looks partials up by key, and `{% include 'constructor' %}`
    // must not find Object's.
    templates: Object.assign(Object.create(null) as Record<string, string>, partials),
    // Asked for, though liquidjs turns it back on with `templates` (and then resolves `./x` among
    // the map's keys only); partials.ts refuses `./` and `../` names instead.
    relativeReference: false,
    strictFilters: true,
    strictVariables: false,
    ownPropertyOnly: true,
    outputEscape: format === 'html' ? 'escape' : undefined,
    // Partials are parsed once per engine, not once per recipient.
    cache: true,
    parseLimit: SANDBOX_LIMITS.parseChars,
    memoryLimit: SANDBOX_LIMITS.memoryUnits,
    renderLimit: SANDBOX_LIMITS.renderMs,
  });
  registerLinkTags(liquid, format);
  return liquid;
}
