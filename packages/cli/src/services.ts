import { createService as createAnalytics } from '@cmis/analytics';
import { createService as createDrip } from '@cmis/drip';
import { createEmailService, emailDemo } from '@cmis/email';
import type { CreateService } from '@cmis/platform';
import { createService as createRules, rulesDemo } from '@cmis/rules';
import { createService as createTriggers, triggersDemo } from '@cmis/triggers';
import { createService as createWorkflows, workflowsDemo } from '@cmis/workflows';

export interface DemoContext {
  baseUrl: string;
  apiKey: string;
  orgId: string;
}

/** What the all-in-one process knows that a service may need to be built. */
export interface ServiceContext {
  env: NodeJS.ProcessEnv;
  /** Where the service's routes are reachable from outside, once the HTTP server listens. */
  publicUrl: () => string;
  adminToken: string;
}

/** A service the all-in-one process runs, mounted under `/<name>`. */
export interface ServiceEntry {
  name: string;
  /** Builds the service's CreateService (the one its main.ts uses, with what the process knows). */
  build: (ctx: ServiceContext) => CreateService;
  /** Its part of `cmis up --demo`: loads examples, returns lines to print. */
  demo?: (ctx: DemoContext) => Promise<string[]>;
}

/** Every service that exists, in start order (producers before their consumers). */
export const SERVICES: ServiceEntry[] = [
  { name: 'triggers', build: () => createTriggers, demo: triggersDemo },
  { name: 'rules', build: () => createRules, demo: rulesDemo },
  { name: 'workflows', build: () => createWorkflows, demo: workflowsDemo },
  { name: 'drip', build: () => createDrip },
  {
    name: 'email',
    // The all-in-one runs the SMTP receiver (EMAIL_SMTP_RECEIVER_PORT, default 2525) and, unless
    // EMAIL_SMTP_URL names a provider, sends to it: every email lands in the dev inbox.
    build: (ctx) =>
      createEmailService({
        env: { ...ctx.env, CMIS_ADMIN_TOKEN: ctx.env.CMIS_ADMIN_TOKEN ?? ctx.adminToken },
        config: {
          publicUrl: ctx.env.EMAIL_PUBLIC_URL ?? ctx.publicUrl,
          receiverPort: ctx.env.EMAIL_SMTP_RECEIVER_PORT ? Number(ctx.env.EMAIL_SMTP_RECEIVER_PORT) : 2525,
          devInbox: ctx.env.EMAIL_DEV_INBOX ? ctx.env.EMAIL_DEV_INBOX === 'true' : true,
        },
      }),
    demo: emailDemo,
  },
  { name: 'analytics', build: () => createAnalytics },
];
