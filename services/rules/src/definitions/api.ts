// CRUD of rules per org, the audit trail of each rule, and its webhook secret.
import { randomUUID } from 'node:crypto';
import {
  asyncHandler,
  literalHost,
  resolveChecked,
  validate,
  ValidationError,
  withOrg,
  type Allowlist,
  type FieldError,
  type Resolver,
  type ServiceRuntime,
} from '@cmis/platform';
import type { Request, Router } from 'express';
import { z } from 'zod';
import { RuleNotFoundError, type RuleCommand, type RuleEvent } from './definitions';
import type { RuleDefinition, StoredRule } from './rule';
import type { RuleStore } from './store';
import { checkRule } from './type-check';

const RuleParams = z.object({ ruleId: z.string().min(1).max(100) });
const DNS_TIMEOUT_MS = 2_000;

export interface DefinitionsApiDeps {
  rt: ServiceRuntime;
  store: RuleStore;
  allowlist: Allowlist;
  resolve: Resolver;
  now: () => Date;
}

export const present = (rule: StoredRule) => ({
  ruleId: rule.ruleId,
  version: rule.version,
  createdAt: rule.createdAt,
  updatedAt: rule.updatedAt,
  ...rule.definition,
});

/** Type-checks a body into a definition, including where its webhooks' names resolve. */
export async function checkDefinition(
  body: unknown,
  base: string,
  allowlist: Allowlist,
  resolve: Resolver,
): Promise<RuleDefinition> {
  const checked = checkRule(body, base, allowlist);
  if (!checked.ok) throw new ValidationError(checked.errors, 'The rule is not valid');
  const errors: FieldError[] = [];
  await Promise.all(
    checked.definition.actions.map(async (action, i) => {
      if (action.kind !== 'webhook') return;
      const url = new URL(action.url);
      if (literalHost(url) !== undefined) return;
      const timeout = new Promise<never>((_, reject) =>
        setTimeout(
          () => reject(new Error(`${url.hostname} did not resolve within ${DNS_TIMEOUT_MS} ms`)),
          DNS_TIMEOUT_MS,
        ).unref(),
      );
      try {
        await Promise.race([resolveChecked(url.hostname, allowlist, resolve), timeout]);
      } catch (error) {
        errors.push({ path: `${base}.actions.${i}.url`, message: `url ${(error as Error).message}` });
      }
    }),
  );
  if (errors.length > 0) throw new ValidationError(errors, 'The rule is not valid');
  return checked.definition;
}

export function definitionsRoutes(router: Router, deps: DefinitionsApiDeps): void {
  const { rt, store, allowlist, resolve, now } = deps;
  const meta = (req: Request) => ({
    now: now(),
    actor: `key:${req.principal!.keyId}`,
    correlationId: (req.headers['x-request-id'] as string | undefined) ?? randomUUID(),
  });
  const read = <T>(req: Request, fn: (trx: Parameters<RuleStore['get']>[0]) => Promise<T>) =>
    withOrg(rt.db.app, req.principal!.orgId, fn);
  const run = async (req: Request, command: RuleCommand) => {
    const { state, secret } = await store.execute(req.principal!.orgId, command);
    if (state.status === 'absent') throw new RuleNotFoundError(command.data.ruleId);
    return { state, secret };
  };
  const current = (req: Request, ruleId: string) => read(req, (trx) => store.get(trx, ruleId)).then(present);

  router.post(
    '/v1/rules',
    rt.auth.require('rules:write'),
    asyncHandler(async (req, res) => {
      const definition = await checkDefinition(req.body, 'body', allowlist, resolve);
      const ruleId = randomUUID();
      const { secret } = await run(req, {
        type: 'CreateRule',
        data: { ruleId, definition },
        metadata: meta(req),
      });
      res
        .status(201)
        .location(`v1/rules/${ruleId}`)
        .json({ ...(await current(req, ruleId)), ...(secret ? { webhookSecret: secret } : {}) });
    }),
  );

  router.get(
    '/v1/rules',
    rt.auth.require('rules:read'),
    asyncHandler(async (req, res) => {
      res.json({ rules: (await read(req, (trx) => store.list(trx))).map(present) });
    }),
  );

  router.get(
    '/v1/rules/:ruleId',
    rt.auth.require('rules:read'),
    validate({ params: RuleParams }),
    asyncHandler(async (req, res) => {
      res.json(await current(req, req.params.ruleId));
    }),
  );

  router.put(
    '/v1/rules/:ruleId',
    rt.auth.require('rules:write'),
    validate({ params: RuleParams }),
    asyncHandler(async (req, res) => {
      const { expectedVersion, ...body } = (req.body ?? {}) as { expectedVersion?: unknown };
      if (
        expectedVersion !== undefined &&
        !(Number.isInteger(expectedVersion) && (expectedVersion as number) > 0)
      ) {
        throw new ValidationError([{ path: 'body.expectedVersion', message: 'is a positive integer' }]);
      }
      const definition = await checkDefinition(body, 'body', allowlist, resolve);
      const data = {
        ruleId: req.params.ruleId,
        definition,
        ...(expectedVersion ? { expectedVersion: expectedVersion as number } : {}),
      };
      const { secret } = await run(req, { type: 'UpdateRule', data, metadata: meta(req) });
      res.json({ ...(await current(req, req.params.ruleId)), ...(secret ? { webhookSecret: secret } : {}) });
    }),
  );

  for (const [verb, type] of [
    ['enable', 'EnableRule'],
    ['disable', 'DisableRule'],
  ] as const) {
    router.post(
      `/v1/rules/:ruleId/${verb}`,
      rt.auth.require('rules:write'),
      validate({ params: RuleParams }),
      asyncHandler(async (req, res) => {
        const body = (req.body ?? {}) as { reason?: unknown };
        const reason = typeof body.reason === 'string' ? body.reason.slice(0, 500) : undefined;
        const data =
          type === 'DisableRule' && reason
            ? { ruleId: req.params.ruleId, reason }
            : { ruleId: req.params.ruleId };
        await run(req, { type, data, metadata: meta(req) } as RuleCommand);
        res.json(await current(req, req.params.ruleId));
      }),
    );
  }

  router.delete(
    '/v1/rules/:ruleId',
    rt.auth.require('rules:write'),
    validate({ params: RuleParams }),
    asyncHandler(async (req, res) => {
      await run(req, { type: 'DeleteRule', data: { ruleId: req.params.ruleId }, metadata: meta(req) });
      res.status(204).end();
    }),
  );

  // The audit trail: who changed what, when, and from which version.
  router.get(
    '/v1/rules/:ruleId/history',
    rt.auth.require('rules:read'),
    validate({ params: RuleParams }),
    asyncHandler(async (req, res) => {
      const events = await read(req, (trx) =>
        rt.eventStore.readStream<RuleEvent>(trx, req.principal!.orgId, 'rule', req.params.ruleId),
      );
      if (events.length === 0) throw new RuleNotFoundError(req.params.ruleId);
      res.json({
        ruleId: req.params.ruleId,
        changes: events.map((e) => ({
          version: e.streamVersion,
          change: e.type.replace('cmis.rules.rule-', ''),
          actor: e.data.actor,
          at: e.data.at,
          previousVersion: e.data.previousVersion,
          ...('changedFields' in e.data ? { changedFields: e.data.changedFields } : {}),
          ...('reason' in e.data && e.data.reason ? { reason: e.data.reason } : {}),
          ...('definition' in e.data ? { definition: e.data.definition } : {}),
        })),
      });
    }),
  );

  router.get(
    '/v1/rules/:ruleId/webhook-secret',
    rt.auth.require('rules:write'),
    validate({ params: RuleParams }),
    asyncHandler(async (req, res) => {
      const row = await read(req, (trx) =>
        trx('webhook_secrets').where({ rule_id: req.params.ruleId }).first('secret'),
      );
      if (!row) throw new RuleNotFoundError(req.params.ruleId);
      res.json({ ruleId: req.params.ruleId, secret: row.secret as string });
    }),
  );
}
