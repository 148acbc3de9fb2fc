// Wires the rules slices into the runtime (also used by the all-in-one process).
import type { CreateService } from '@cmis/platform';
import {
  createWebhookSender,
  parseAllowlist,
  systemResolver,
  withOrg,
  type Resolver,
  type WebhookSenderOptions,
} from '@cmis/platform';
import { rulesMigrations } from './db/migrations';
import { definitionsRoutes } from './definitions/api';
import { createRuleStore } from './definitions/store';
import { evaluationRoutes } from './evaluation/api';
import { startEvaluation } from './evaluation/consumer';
import { createFiring } from './evaluation/fire';
import { buildIndex, createCompiledRules, type RuleIndex } from './evaluation/rule-index';
import { simulateRoutes } from './simulate/api';
import { createWebhookWorker } from './webhook/worker';
import { openApiDocument } from './openapi';

export interface RulesServiceOptions {
  /** The service's clock (event times, budget days); tests inject one. */
  now?: () => Date;
  /** CIDRs webhooks may reach although private; default: env RULES_WEBHOOK_ALLOWLIST. */
  webhookAllowlist?: string;
  resolve?: Resolver;
  webhook?: Omit<WebhookSenderOptions, 'allowlist' | 'resolve' | 'now'>;
}

export function createRulesService(options: RulesServiceOptions = {}): CreateService {
  return (rt) => {
    const now = options.now ?? (() => new Date());
    const allowlist = parseAllowlist(options.webhookAllowlist ?? process.env.RULES_WEBHOOK_ALLOWLIST);
    const resolve = options.resolve ?? systemResolver;
    const compiled = createCompiledRules();
    // Holds the store once built below; the loader runs only after start.
    let loadRules: (orgId: string) => Promise<RuleIndex> = async () => buildIndex([]);
    const index = rt.redis.invalidatingCache<RuleIndex>({
      name: `${rt.name}.rule-index`,
      loader: (orgId) => loadRules(orgId),
      ttlMs: 5 * 60_000,
    });
    const store = createRuleStore(rt, index, now);
    loadRules = (orgId) =>
      withOrg(rt.db.app, orgId, (trx) => store.live(trx)).then((rules) =>
        buildIndex(rules.map((r) => ({ compiled: compiled(orgId, r), createdAt: r.createdAt }))),
      );
    const sender = createWebhookSender({ ...options.webhook, allowlist, resolve, now });
    const webhooks = createWebhookWorker({ rt, sender, now });
    return {
      migrations: rulesMigrations,
      routes(router) {
        router.get('/openapi.json', (_req, res) => res.json(openApiDocument));
        simulateRoutes(router, { rt, allowlist, resolve });
        definitionsRoutes(router, { rt, store, allowlist, resolve, now });
        evaluationRoutes(router, rt);
      },
      async start() {
        await startEvaluation({
          rt,
          index,
          firing: createFiring({
            rt,
            locks: rt.redis.cooldownLocks(),
            now,
            onWebhooksQueued: () => webhooks.wake(),
          }),
        });
        webhooks.start();
      },
      async stop() {
        await webhooks.stop();
        await sender.close();
      },
    };
  };
}

export const createService: CreateService = createRulesService();
