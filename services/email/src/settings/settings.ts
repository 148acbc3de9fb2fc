// An org's email settings: its sender and provider, DKIM key, sending policy, webhook credentials
// and preference-center topics. Secrets (SMTP password, DKIM key, webhook keys) are kept in the
// service's table only, never in events, and never shown back.
import { createPrivateKey } from 'node:crypto';
import { z } from 'zod';

const HourMinute = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM');

export const TimeZone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'must be an IANA time zone such as Europe/Berlin');

export const ProviderInput = z.object({
  name: z.string().min(1).max(100).optional(),
  host: z.string().min(1).max(253),
  port: z.number().int().min(1).max(65535),
  secure: z.boolean().default(false),
  requireTls: z.boolean().optional(),
  auth: z.object({ user: z.string().min(1), pass: z.string().min(1) }).optional(),
  tls: z.object({ rejectUnauthorized: z.boolean().optional(), servername: z.string().optional() }).optional(),
  maxConnections: z.number().int().min(1).max(50).optional(),
  sendsPerSecond: z
    .number()
    .int()
    .min(1)
    .max(10_000)
    .optional()
    .describe('Throttle of this provider, across orgs'),
});

export const DkimInput = z.object({
  domainName: z.string().min(1).max(253),
  keySelector: z.string().regex(/^[A-Za-z0-9._-]{1,63}$/),
  privateKey: z.string().refine((pem) => {
    try {
      createPrivateKey(pem);
      return true;
    } catch {
      return false;
    }
  }, 'must be a PEM private key'),
});

export const EmailSettings = z.object({
  from: z
    .object({ address: z.string().email(), name: z.string().min(1).max(200).optional() })
    .optional()
    .describe("Default: the service's EMAIL_FROM"),
  replyTo: z.string().email().optional(),
  provider: ProviderInput.optional().describe(
    "Default: the service's EMAIL_SMTP_URL (the dev inbox locally)",
  ),
  dkim: DkimInput.optional(),
  policy: z
    .object({
      frequencyCaps: z
        .object({
          perDay: z.number().int().positive().optional(),
          perWeek: z.number().int().positive().optional(),
        })
        .default({}),
      quietHours: z.object({ start: HourMinute, end: HourMinute }).optional(),
      defaultTimeZone: TimeZone.default('UTC'),
      softBounceLimit: z.number().int().min(1).max(100).default(3),
      sendsPerSecond: z.number().int().min(1).max(10_000).optional().describe('Per-org throttle'),
      maxAttempts: z.number().int().min(1).max(30).default(10),
      retryBaseSeconds: z.number().min(0.01).max(3600).default(60),
    })
    .default({}),
  webhooks: z
    .object({
      sesTopicArns: z.array(z.string().regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]+$/)).default([]),
      sendgridPublicKey: z.string().min(40).optional(),
      postmark: z.object({ user: z.string().min(1), password: z.string().min(8) }).optional(),
      mailgunSigningKey: z.string().min(16).optional(),
    })
    .default({}),
  subscriptionTopics: z
    .array(z.object({ id: z.string().regex(/^[a-z0-9_-]{1,50}$/), name: z.string().min(1).max(200) }))
    .max(50)
    .default([]),
});
export type EmailSettings = z.infer<typeof EmailSettings>;

export const DEFAULT_SETTINGS: EmailSettings = EmailSettings.parse({});

/** The settings as the API shows them: every secret replaced by whether it is set. */
export function redactSettings(settings: EmailSettings): Record<string, unknown> {
  return {
    ...settings,
    provider: settings.provider && {
      ...settings.provider,
      auth: settings.provider.auth && { user: settings.provider.auth.user, pass: '(set)' },
    },
    dkim: settings.dkim && { ...settings.dkim, privateKey: '(set)' },
    webhooks: {
      sesTopicArns: settings.webhooks.sesTopicArns,
      sendgridPublicKey: settings.webhooks.sendgridPublicKey ? '(set)' : undefined,
      postmark: settings.webhooks.postmark && { user: settings.webhooks.postmark.user, password: '(set)' },
      mailgunSigningKey: settings.webhooks.mailgunSigningKey ? '(set)' : undefined,
    },
  };
}
