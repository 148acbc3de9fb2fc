// The email service's own settings (beyond the platform's): where its public links point, the
// secrets that sign them, the default SMTP provider and the local SMTP receiver.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { ProviderSettings } from './sending/smtp-sender';

export interface EmailConfig {
  /** Base URL of the service's public routes (tracking, unsubscribe), without a trailing slash. */
  publicUrl: () => string;
  /** Signing secrets of tracking tokens and VERP addresses; the first signs, any verifies. */
  secrets: string[];
  /**
   * The provider of orgs that configured none: EMAIL_SMTP_URL, else the service's own SMTP
   * receiver when it runs one (the dev inbox), else smtp://127.0.0.1:2525.
   */
  defaultProvider: ProviderSettings;
  /** Whether the default provider was configured (else the receiver, once listening, becomes it). */
  providerConfigured: boolean;
  /** Domain of VERP return paths (bounces come back to bounces+…@this). */
  bounceDomain: string;
  /** Sender of orgs that configured none. */
  defaultFrom: string;
  /** Where the SMTP receiver listens (DSNs to VERP addresses; the dev inbox); undefined = none. */
  receiverPort?: number;
  receiverHost: string;
  /** Keep what the receiver takes in (other than bounces) in the dev inbox. */
  devInbox: boolean;
  /**
   * Hosts (host:port) besides sns.<region>.amazonaws.com that SNS signing certificates and
   * subscription URLs may come from, over http too: a test's loopback signer. Empty in production.
   */
  snsCertHosts: string[];
}

const Env = z.object({
  EMAIL_PUBLIC_URL: z.string().url().optional(),
  EMAIL_SECRETS: z.string().min(16).optional(),
  CMIS_ADMIN_TOKEN: z.string().optional(),
  EMAIL_SMTP_URL: z.string().url().optional(),
  EMAIL_BOUNCE_DOMAIN: z.string().min(1).default('bounces.cmis.localhost'),
  EMAIL_FROM: z.string().email().default('cmis@cmis.localhost'),
  EMAIL_SMTP_RECEIVER_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  EMAIL_SMTP_RECEIVER_HOST: z.string().default('127.0.0.1'),
  EMAIL_DEV_INBOX: z.enum(['true', 'false']).optional(),
  EMAIL_SNS_CERT_HOSTS: z.string().optional(),
  EMAIL_SMTP_MAX_PER_SECOND: z.coerce.number().int().min(1).optional(),
});

/** `smtp://user:pass@host:port` or `smtps://…` into provider settings. */
export function providerFromUrl(url: string): ProviderSettings {
  const u = new URL(url);
  const secure = u.protocol === 'smtps:';
  return {
    name: u.hostname,
    host: u.hostname,
    port: u.port ? Number(u.port) : secure ? 465 : 25,
    secure,
    ...(u.username
      ? { auth: { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } }
      : {}),
  };
}

export function loadEmailConfig(
  env: NodeJS.ProcessEnv,
  overrides: Partial<Omit<EmailConfig, 'publicUrl' | 'providerConfigured'>> & {
    publicUrl?: string | (() => string);
  } = {},
): EmailConfig {
  const e = Env.parse(env);
  // Without its own secret the service derives one from the admin token, so links stay valid
  // across restarts; one of the two must exist.
  const secret =
    e.EMAIL_SECRETS?.split(',').map((s) => s.trim()) ??
    (e.CMIS_ADMIN_TOKEN
      ? [createHash('sha256').update(`cmis-email:${e.CMIS_ADMIN_TOKEN}`).digest('base64url')]
      : undefined);
  const secrets = overrides.secrets ?? secret;
  if (!secrets || secrets.length === 0)
    throw new Error('EMAIL_SECRETS (or CMIS_ADMIN_TOKEN) must be set: it signs tracking links');
  const receiverPort = overrides.receiverPort ?? e.EMAIL_SMTP_RECEIVER_PORT;
  const publicUrl = overrides.publicUrl ?? e.EMAIL_PUBLIC_URL ?? 'http://127.0.0.1:3005';
  return {
    publicUrl: typeof publicUrl === 'function' ? publicUrl : () => publicUrl,
    secrets,
    defaultProvider: overrides.defaultProvider ?? {
      ...providerFromUrl(e.EMAIL_SMTP_URL ?? 'smtp://127.0.0.1:2525'),
      ...(e.EMAIL_SMTP_MAX_PER_SECOND !== undefined ? { sendsPerSecond: e.EMAIL_SMTP_MAX_PER_SECOND } : {}),
    },
    providerConfigured: overrides.defaultProvider !== undefined || e.EMAIL_SMTP_URL !== undefined,
    bounceDomain: overrides.bounceDomain ?? e.EMAIL_BOUNCE_DOMAIN,
    defaultFrom: overrides.defaultFrom ?? e.EMAIL_FROM,
    receiverPort,
    receiverHost: overrides.receiverHost ?? e.EMAIL_SMTP_RECEIVER_HOST,
    devInbox:
      overrides.devInbox ?? (e.EMAIL_DEV_INBOX ? e.EMAIL_DEV_INBOX === 'true' : receiverPort !== undefined),
    snsCertHosts:
      overrides.snsCertHosts ??
      e.EMAIL_SNS_CERT_HOSTS?.split(',')
        .map((h) => h.trim())
        .filter(Boolean) ??
      [],
  };
}
