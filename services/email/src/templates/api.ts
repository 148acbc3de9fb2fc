// Templates and partials per org: saved as versions (every change an event naming who, when and
// the version it came from), checked at save (a Liquid or MJML error is a 400 naming the field,
// line and column), listed, read by version, deleted, and previewed for a sample or a real contact.
import {
  asyncHandler,
  ConflictError,
  handleCommand,
  NotFoundError,
  validate,
  ValidationError,
  withOrg,
  type ServiceRuntime,
} from '@cmis/platform';
import type { Request, Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { compileTemplate, TemplateError, type TemplateContent } from './compile';
import type { TemplateLibrary } from './library';
import { renderEmail, RenderError } from './render';
import { templateDecider, TemplateNotFound, TemplateVersionConflict, type TemplateEvent } from './template';

export const TEMPLATE_STREAM = 'email-template';

const TemplateParams = z.object({
  templateId: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'must be 1–100 letters, digits, _ . -'),
});
const VersionParams = TemplateParams.extend({
  version: z.string().regex(/^[1-9]\d{0,8}$/, 'must be a version number'),
});

export const TemplateContentInput = z
  .object({
    subject: z.string().min(1).max(2_000),
    html: z.string().min(1).max(1_000_000).optional(),
    text: z.string().min(1).max(500_000).optional(),
    mjml: z.boolean().default(false),
  })
  .strict();

export const TemplateInput = z
  .object({
    name: z.string().min(1).max(200),
    kind: z.enum(['template', 'partial']).default('template'),
    content: TemplateContentInput,
    expectedVersion: z.number().int().min(0).optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (!t.content.html && !t.content.text)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['content', 'html'],
        message: 'html or text is required',
      });
  });

export const PreviewInput = z
  .object({
    version: z.number().int().positive().optional(),
    contactId: z.string().min(1).max(200).optional().describe('Render for this contact as email knows it'),
    data: z
      .record(z.unknown())
      .default({})
      .describe('Liquid variables; `contact` is a sample contact unless contactId is given'),
  })
  .strict();

const templateError = (error: TemplateError | RenderError, base: string) =>
  new ValidationError(
    [{ path: error instanceof TemplateError ? `${base}.${error.field}` : base, message: error.message }],
    'The template does not compile',
  );

export function templateRoutes(
  router: Router,
  deps: { rt: ServiceRuntime; templates: TemplateLibrary; now: () => Date },
) {
  const { rt, templates, now } = deps;
  const orgOf = (req: Request) => req.principal!.orgId;

  async function project(trx: Knex.Transaction, orgId: string, events: TemplateEvent[]) {
    for (const event of events) {
      if (event.type === 'cmis.email.template-saved') {
        const d = event.data;
        await trx('template_versions').insert({
          org_id: orgId,
          template_id: d.templateId,
          version: d.version,
          content: JSON.stringify(d.content),
          saved_by: d.by,
          saved_at: d.at,
        });
        await trx('templates')
          .insert({
            org_id: orgId,
            template_id: d.templateId,
            name: d.name,
            kind: d.kind,
            version: d.version,
            deleted: false,
            updated_at: d.at,
          })
          .onConflict(['org_id', 'template_id'])
          .merge();
      } else {
        await trx('templates')
          .where({ org_id: orgId, template_id: event.data.templateId })
          .update({ deleted: true, version: event.data.version, updated_at: event.data.at });
      }
    }
  }

  const run = async (req: Request, command: Parameters<typeof templateDecider.decide>[0]) => {
    const orgId = orgOf(req);
    try {
      return await withOrg(rt.db.app, orgId, async (trx) => {
        const result = await handleCommand(
          rt.eventStore,
          trx,
          templateDecider,
          { orgId, streamType: TEMPLATE_STREAM, streamId: command.data.templateId },
          command,
          {
            now,
          },
        );
        await project(trx, orgId, result.newEvents);
        return result;
      });
    } catch (error) {
      if (error instanceof TemplateVersionConflict) throw new ConflictError(error.message);
      if (error instanceof TemplateNotFound) throw new NotFoundError(error.message);
      throw error;
    }
  };

  router.put(
    '/v1/templates/:templateId',
    rt.auth.require('email:manage'),
    validate({ params: TemplateParams, body: TemplateInput }),
    asyncHandler(async (req, res) => {
      const orgId = orgOf(req);
      const body = req.body;
      // Compiled against the org's partials now: an error is the author's to see at save.
      const partials = await withOrg(rt.db.app, orgId, (trx) => templates.partials(trx, orgId));
      const content: TemplateContent = body.content;
      try {
        await compileTemplate(
          content,
          body.kind === 'partial'
            ? { ...partials, [req.params.templateId]: content.html ?? content.text ?? '' }
            : partials,
        );
      } catch (error) {
        if (error instanceof TemplateError) throw templateError(error, 'body.content');
        throw error;
      }
      const result = await run(req, {
        type: 'SaveTemplate',
        data: {
          templateId: req.params.templateId,
          name: body.name,
          kind: body.kind,
          content,
          ...(body.expectedVersion !== undefined ? { expectedVersion: body.expectedVersion } : {}),
        },
        metadata: { by: `key:${req.principal!.keyId}`, at: now().toISOString() },
      });
      res.status(result.newEvents.length > 0 && result.nextVersion === 1 ? 201 : 200).json({
        templateId: req.params.templateId,
        version: result.newState.version,
        changed: result.newEvents.length > 0,
      });
    }),
  );

  router.get(
    '/v1/templates',
    rt.auth.require('email:read'),
    asyncHandler(async (req, res) => {
      const orgId = orgOf(req);
      const rows = await withOrg(rt.db.app, orgId, (trx) =>
        trx('templates').where({ org_id: orgId, deleted: false }).orderBy('template_id'),
      );
      res.json({
        templates: rows.map((r) => ({
          templateId: r.template_id,
          name: r.name,
          kind: r.kind,
          version: r.version,
          updatedAt: r.updated_at,
        })),
      });
    }),
  );

  router.get(
    '/v1/templates/:templateId',
    rt.auth.require('email:read'),
    validate({ params: TemplateParams }),
    asyncHandler(async (req, res) => {
      const orgId = orgOf(req);
      const found = await withOrg(rt.db.app, orgId, async (trx) => {
        const row = await trx('templates')
          .where({ org_id: orgId, template_id: req.params.templateId })
          .first();
        if (!row) return undefined;
        const events = await rt.eventStore.readStream(trx, orgId, TEMPLATE_STREAM, req.params.templateId);
        return { row, events };
      });
      if (!found || found.row.deleted) throw new NotFoundError(`No template ${req.params.templateId}`);
      const history = found.events.map((e) => {
        const { content: _content, ...rest } = e.data as Record<string, unknown>;
        return { type: e.type, ...rest };
      });
      const current = found.events
        .map((e) => e.data as { version: number; content?: TemplateContent })
        .reverse()
        .find((d) => d.content);
      res.json({
        templateId: found.row.template_id,
        name: found.row.name,
        kind: found.row.kind,
        version: found.row.version,
        content: current?.content,
        history,
      });
    }),
  );

  router.get(
    '/v1/templates/:templateId/versions/:version',
    rt.auth.require('email:read'),
    validate({ params: VersionParams }),
    asyncHandler(async (req, res) => {
      const orgId = orgOf(req);
      const row = await withOrg(rt.db.app, orgId, (trx) =>
        trx('template_versions')
          .where({ org_id: orgId, template_id: req.params.templateId, version: Number(req.params.version) })
          .first(),
      );
      if (!row)
        throw new NotFoundError(`No version ${req.params.version} of template ${req.params.templateId}`);
      res.json({
        templateId: row.template_id,
        version: row.version,
        content: row.content,
        savedBy: row.saved_by,
        savedAt: row.saved_at,
      });
    }),
  );

  router.delete(
    '/v1/templates/:templateId',
    rt.auth.require('email:manage'),
    validate({ params: TemplateParams }),
    asyncHandler(async (req, res) => {
      await run(req, {
        type: 'DeleteTemplate',
        data: { templateId: req.params.templateId },
        metadata: { by: `key:${req.principal!.keyId}`, at: now().toISOString() },
      });
      res.status(204).end();
    }),
  );

  router.post(
    '/v1/templates/:templateId/preview',
    rt.auth.require('email:read'),
    validate({ params: TemplateParams, body: PreviewInput }),
    asyncHandler(async (req, res) => {
      const orgId = orgOf(req);
      const body = req.body;
      const rendered = await withOrg(rt.db.app, orgId, async (trx) => {
        const source = await templates.compiled(trx, orgId, req.params.templateId, body.version);
        if (!source)
          throw new NotFoundError(
            `No template ${req.params.templateId}${body.version ? ` version ${body.version}` : ''}`,
          );
        let contact: Record<string, unknown> = {
          id: 'sample-contact',
          email: 'sample@example.com',
          name: 'Sample Contact',
        };
        if (body.contactId) {
          const row = await trx('contacts').where({ org_id: orgId, contact_id: body.contactId }).first();
          if (!row) throw new NotFoundError(`No contact ${body.contactId}`);
          contact = {
            ...row.traits,
            id: row.contact_id,
            email: row.address ?? undefined,
            name: row.name ?? undefined,
            locale: row.locale ?? undefined,
          };
        }
        try {
          return {
            version: source.version,
            ...(await renderEmail(source.compiled, {
              vars: { ...body.data, contact },
              unsubscribeUrl: 'https://example.invalid/unsubscribe-preview',
              preferencesUrl: 'https://example.invalid/preferences-preview',
            })),
          };
        } catch (error) {
          if (error instanceof RenderError || error instanceof TemplateError)
            throw templateError(error, 'body');
          throw error;
        }
      });
      res.json({ templateId: req.params.templateId, ...rendered });
    }),
  );
}
