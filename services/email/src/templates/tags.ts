// The Liquid tags CMIS adds: {% unsubscribe_link "label" %} and {% preferences_link "label" %},
// the visible links of every marketing email. In HTML they are anchors that link tracking leaves
// alone (data-cmis-untracked); in the text part, "label: URL".
import type { Liquid, TagToken, Context, Emitter, TopLevelToken } from 'liquidjs';

const escape = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function linkTag(
  engine: Liquid,
  name: string,
  urlKey: 'unsubscribeUrl' | 'preferencesUrl',
  fallback: string,
) {
  engine.registerTag(name, {
    parse(token: TagToken, _remain: TopLevelToken[]) {
      const m = /^\s*(?:"([^"]*)"|'([^']*)')?\s*$/.exec(token.args);
      if (!m) throw new Error(`${name} takes one quoted label`);
      this.label = m[1] ?? m[2] ?? fallback;
    },
    render(ctx: Context, emitter: Emitter) {
      const cmis = (
        ctx.getAll() as { __cmis?: { unsubscribeUrl?: string; preferencesUrl?: string; html?: boolean } }
      ).__cmis;
      const url = cmis?.[urlKey] ?? '';
      const label = this.label as string;
      emitter.write(
        cmis?.html ? `<a href="${escape(url)}" data-cmis-untracked>${escape(label)}</a>` : `${label}: ${url}`,
      );
    },
  });
}

export function registerCmisTags(engine: Liquid): void {
  linkTag(engine, 'unsubscribe_link', 'unsubscribeUrl', 'Unsubscribe');
  linkTag(engine, 'preferences_link', 'preferencesUrl', 'Email preferences');
}
