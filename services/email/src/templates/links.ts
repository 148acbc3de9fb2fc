// The unsubscribe and preference-center links, as Liquid tags: `{% unsubscribe_link %}` or
// `{% unsubscribe_link "Stop these emails" %}`, and `{% preferences_link %}` the same way. The
// URLs are the recipient's own, so they arrive with each render, never from the template.
import {
  Tag,
  evalToken,
  type Context,
  type Emitter,
  type Liquid,
  type TagToken,
  type TopLevelToken,
  type ValueToken,
} from 'liquidjs';

export type RecipientLinks = { unsubscribe: string; preferences: string };

/**
 * Where a render keeps the recipient's links: a symbol key in the render's globals, which no
 * Liquid variable can name, so neither a template nor a contact trait can read or replace it.
 */
export const RECIPIENT_LINKS = Symbol('cmis.email.recipient-links');

export const recipientLinksGlobals = (links: RecipientLinks) => ({ [RECIPIENT_LINKS]: links });

/** How a link is written into the part: an anchor in HTML, `label: URL` in text and subject. */
export type LinkFormat = 'html' | 'text';

const LINK_TAGS = {
  unsubscribe_link: { link: 'unsubscribe', label: 'Unsubscribe' },
  preferences_link: { link: 'preferences', label: 'Manage your email preferences' },
} as const;

export function registerLinkTags(liquid: Liquid, format: LinkFormat): void {
  for (const [name, { link, label }] of Object.entries(LINK_TAGS)) {
    liquid.registerTag(name, linkTag(link, label, format));
  }
}

function linkTag(link: keyof RecipientLinks, defaultLabel: string, format: LinkFormat) {
  return class LinkTag extends Tag {
    private readonly label: ValueToken | undefined;

    constructor(token: TagToken, remainTokens: TopLevelToken[], liquid: Liquid) {
      super(token, remainTokens, liquid);
      this.label = this.tokenizer.readValue();
      this.tokenizer.skipBlank();
      if (!this.tokenizer.end()) throw new Error(`${token.name} takes one label, e.g. "Unsubscribe"`);
    }

    *render(ctx: Context, emitter: Emitter): Generator<unknown, void, unknown> {
      const label = this.label ? String((yield evalToken(this.label, ctx)) ?? '') : defaultLabel;
      const url = linksOf(ctx)[link];
      // The anchor is the sender's, not a tracked link: link tracking skips data-cmis-untracked.
      emitter.write(
        format === 'html'
          ? `<a href="${escapeHtml(url)}" data-cmis-untracked>${escapeHtml(label || defaultLabel)}</a>`
          : `${label || defaultLabel}: ${url}`,
      );
    }
  };
}

function linksOf(ctx: Context): RecipientLinks {
  const links = (ctx.globals as Record<symbol, RecipientLinks | undefined>)[RECIPIENT_LINKS];
  if (!links) throw new Error('the render has no unsubscribe and preferences URLs');
  return links;
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
