// What every source of delivery reports (provider webhooks, DSNs through the SMTP receiver) is
// turned into, so the rest of the service applies one shape whatever the provider said.

/** How a report names its message; any of these may be missing, the lead's lookup tries each. */
export interface MessageRef {
  /** The Message-ID header value, with or without <>. */
  smtpMessageId?: string;
  /** The envelope sender the message went out with (our VERP return path). */
  verpAddress?: string;
  /** Our message id, when the provider echoes back what we attached. */
  cmisMessageId?: string;
}

export type Source = 'ses' | 'sendgrid' | 'postmark' | 'mailgun' | 'dsn';

export type DeliveryReport =
  | {
      type: 'bounce';
      bounceType: 'hard' | 'soft';
      address: string;
      reason: string;
      smtpCode?: number;
      ref: MessageRef;
      source: Source;
    }
  | { type: 'complaint'; address: string; feedbackType?: string; ref: MessageRef; source: Source }
  | { type: 'delivered'; address: string; ref: MessageRef; source: Source; detail?: string };

/**
 * A webhook request that must not be acted on. 401: credentials or signature missing or wrong
 * (or too old to trust); 403: authentic but not allowed here (topic not on the org's allowlist,
 * certificate host refused, token replayed); 400: malformed.
 */
export class WebhookRejected extends Error {
  override readonly name = 'WebhookRejected';
  constructor(
    readonly status: 401 | 403 | 400,
    message: string,
  ) {
    super(message);
  }
}
