// Compiled templates for rendering: a version is compiled once (MJML, CSS inlining, the text part,
// Liquid parsing) and kept, since a version never changes; only the org's partials can change
// what it renders, so their state is part of the cache key. Inline content is compiled the same
// way, keyed by its text.
import { createHash } from 'node:crypto';
import type { EmailContent } from '@cmis/contracts';
import type { Knex } from 'knex';
import { compileTemplate, type CompiledTemplate, type TemplateContent } from './compile';

export interface TemplateSource {
  templateId?: string;
  version?: number;
  compiled: CompiledTemplate;
}

export interface TemplateLibrary {
  /** A template's version (default: its current one), or undefined when there is none. Throws TemplateError. */
  compiled(
    trx: Knex.Transaction,
    orgId: string,
    templateId: string,
    version?: number,
  ): Promise<TemplateSource | undefined>;
  inline(
    trx: Knex.Transaction,
    orgId: string,
    content: Extract<EmailContent, { kind: 'inline' }>,
  ): Promise<TemplateSource>;
  /** The org's current partials, by name. */
  partials(trx: Knex.Transaction, orgId: string): Promise<Record<string, string>>;
}

const MAX_ENTRIES = 2_000;

export function createTemplateLibrary(): TemplateLibrary {
  const cache = new Map<string, Promise<CompiledTemplate>>();
  const partialsCache = new Map<string, { stamp: string; partials: Record<string, string> }>();

  const remember = (key: string, compile: () => Promise<CompiledTemplate>) => {
    let entry = cache.get(key);
    if (entry) {
      cache.delete(key);
      cache.set(key, entry);
      return entry;
    }
    entry = compile();
    // A failed compilation is not kept: the error is reported each time.
    entry.catch(() => cache.delete(key));
    cache.set(key, entry);
    if (cache.size > MAX_ENTRIES) cache.delete(cache.keys().next().value!);
    return entry;
  };

  /** The org's partials and a stamp that changes whenever one of them does. */
  async function currentPartials(trx: Knex.Transaction, orgId: string) {
    const { rows } = await trx.raw<{ rows: Array<{ stamp: string }> }>(
      `select coalesce(string_agg(template_id || ':' || version, ',' order by template_id), '') as stamp
         from templates where org_id = ? and kind = 'partial' and not deleted`,
      [orgId],
    );
    const stamp = rows[0]!.stamp;
    const known = partialsCache.get(orgId);
    if (known && known.stamp === stamp) return known;
    const found = await trx('templates as t')
      .join('template_versions as v', function () {
        this.on('v.org_id', 't.org_id')
          .andOn('v.template_id', 't.template_id')
          .andOn('v.version', 't.version');
      })
      .where({ 't.org_id': orgId, 't.kind': 'partial', 't.deleted': false })
      .select('t.template_id', 'v.content');
    const partials: Record<string, string> = {};
    for (const row of found) {
      const content = row.content as TemplateContent;
      partials[row.template_id as string] = content.html ?? content.text ?? '';
    }
    const entry = { stamp, partials };
    partialsCache.set(orgId, entry);
    if (partialsCache.size > MAX_ENTRIES) partialsCache.delete(partialsCache.keys().next().value!);
    return entry;
  }

  return {
    async compiled(trx, orgId, templateId, version) {
      const current = await trx('templates')
        .where({ org_id: orgId, template_id: templateId, kind: 'template' })
        .first('version', 'deleted');
      if (!current || (current.deleted && version === undefined)) return undefined;
      const wanted = version ?? (current.version as number);
      const { stamp, partials } = await currentPartials(trx, orgId);
      const key = `${orgId}\u0000${templateId}\u0000${wanted}\u0000${stamp}`;
      let content: TemplateContent | undefined;
      if (!cache.has(key)) {
        const row = await trx('template_versions')
          .where({ org_id: orgId, template_id: templateId, version: wanted })
          .first('content');
        if (!row) return undefined;
        content = row.content as TemplateContent;
      }
      const compiled = await remember(key, () => compileTemplate(content!, partials));
      return { templateId, version: wanted, compiled };
    },
    async inline(trx, orgId, content) {
      const { stamp, partials } = await currentPartials(trx, orgId);
      const digest = createHash('sha256')
        .update(JSON.stringify([content.subject, content.html, content.text, content.mjml]))
        .digest('base64url');
      const key = `${orgId}\u0000inline\u0000${digest}\u0000${stamp}`;
      const compiled = await remember(key, () =>
        compileTemplate(
          {
            subject: content.subject,
            ...(content.html ? { html: content.html } : {}),
            ...(content.text ? { text: content.text } : {}),
            mjml: content.mjml ?? false,
          },
          partials,
        ),
      );
      return { compiled };
    },
    async partials(trx, orgId) {
      return (await currentPartials(trx, orgId)).partials;
    },
  };
}
