// Wires the email slices into the runtime (also used by the all-in-one process).
import type { CreateService } from '@cmis/platform';
import { withOrg } from '@cmis/platform';
import { startExperimentDecisionConsumer } from './abtests/decisions';
import { broadcastRoutes } from './broadcasts/api';
import { startSegmentAudienceConsumer } from './broadcasts/segments';
import { createBroadcastWorker } from './broadcasts/worker';
import { loadEmailConfig, type EmailConfig } from './config';
import { contactRoutes } from './contacts/api';
import { startContactsProjection } from './contacts/projection';
import { emailMigrations } from './db/migrations';
import { devInboxRoutes } from './devinbox/api';
import { createInboundHandler } from './inbound/receive';
import { messageRoutes } from './messages/api';
import { startRequestConsumer } from './messages/consumer';
import { createRequestHandler } from './messages/request';
import { openApiDocument } from './openapi';
import { createSendWorker } from './outbound/worker';
import { startSmtpReceiver, type SmtpReceiver } from './receiver/smtp-receiver';
import { createSmtpSender, type SmtpSender } from './sending/smtp-sender';
import { settingsRoutes } from './settings/api';
import type { EmailSettings } from './settings/settings';
import { loadSettings } from './settings/store';
import { templateRoutes } from './templates/api';
import { createTemplateLibrary } from './templates/library';
import { trackingRoutes } from './tracking/api';
import { unsubscribeRoutes } from './unsubscribe/api';
import { webhookRoutes, type WebhookDeps } from './webhooks/api';

export interface EmailServiceOptions {
  /** The service's clock (event times, quiet hours, backoff); tests inject one. */
  now?: () => Date;
  /** Overrides of the environment's settings (tests: the public URL once the port is known). */
  config?: Parameters<typeof loadEmailConfig>[1];
  env?: NodeJS.ProcessEnv;
  /** The SMTP client; default nodemailer's pooled transport. */
  smtp?: SmtpSender;
  sns?: WebhookDeps['sns'];
  worker?: { concurrency?: number; intervalMs?: number; leaseMs?: number };
  /** How machine opens and clicks are told apart (tests shorten the too-soon-after-send window). */
  tracking?: { minHumanClickDelayMs?: number };
  /** Called with the SMTP receiver once it listens (tests read its port). */
  onReceiver?: (receiver: SmtpReceiver) => void;
}

export function createEmailService(options: EmailServiceOptions = {}): CreateService {
  return (rt) => {
    const now = options.now ?? (() => new Date());
    const config: EmailConfig = loadEmailConfig(options.env ?? process.env, options.config);
    const settingsCache = rt.redis.invalidatingCache<EmailSettings>({
      name: `${rt.name}.settings`,
      loader: (orgId) => withOrg(rt.db.app, orgId, (trx) => loadSettings(trx, orgId)),
      ttlMs: 60_000,
    });
    const settings = (orgId: string) => settingsCache.get(orgId);
    const smtp = options.smtp ?? createSmtpSender();
    const templates = createTemplateLibrary();
    const worker = createSendWorker({ rt, config, smtp, settings, now, ...options.worker });
    const handleRequest = createRequestHandler({
      rt,
      config,
      templates,
      settings,
      now,
      onQueued: () => worker.wake(),
    });
    const broadcasts = createBroadcastWorker({ rt, handleRequest, settings, now });
    const receive = createInboundHandler({ rt, config, settings: settingsCache, now });
    let receiver: SmtpReceiver | undefined;
    const deps = { rt, config, settings: settingsCache, now };
    return {
      migrations: emailMigrations,
      routes(router) {
        router.get('/openapi.json', (_req, res) => res.json(openApiDocument));
        messageRoutes(router, { rt, handleRequest });
        contactRoutes(router, { rt, now });
        templateRoutes(router, { rt, templates, now });
        settingsRoutes(router, { rt, cache: settingsCache, now });
        broadcastRoutes(router, { rt, broadcasts, now });
        trackingRoutes(router, { ...deps, ...(options.tracking ? { classify: options.tracking } : {}) });
        unsubscribeRoutes(router, deps);
        webhookRoutes(router, { ...deps, ...(options.sns ? { sns: options.sns } : {}) });
        if (config.devInbox) devInboxRoutes(router, rt);
      },
      async start() {
        if (config.receiverPort !== undefined) {
          receiver = await startSmtpReceiver({
            host: config.receiverHost,
            port: config.receiverPort,
            onMessage: receive,
            logger: rt.logger,
          });
          rt.logger.info({ port: receiver.port }, 'SMTP receiver listening');
          // Unless a provider was configured, mail goes to this receiver: the local dev inbox.
          if (!config.providerConfigured)
            config.defaultProvider = {
              name: 'dev-inbox',
              host: config.receiverHost,
              port: receiver.port,
              secure: false,
            };
          options.onReceiver?.(receiver);
        }
        await startContactsProjection(rt, now);
        await startRequestConsumer(rt, handleRequest);
        await startSegmentAudienceConsumer(rt);
        await startExperimentDecisionConsumer(rt, { now, onApplied: () => broadcasts.wake() });
        worker.start();
        broadcasts.start();
      },
      async stop() {
        await broadcasts.stop();
        await worker.stop();
        await receiver?.close();
        await smtp.close();
        await settingsCache.close();
      },
    };
  };
}

export const createService: CreateService = createEmailService();
