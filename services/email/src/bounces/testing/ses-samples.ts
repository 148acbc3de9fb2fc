// SES notifications as SES writes them (the Message inside an SNS notification), for specs and
// the end-to-end test. https://docs.aws.amazon.com/ses/latest/dg/notification-examples.html

export interface SesBounceSample {
  recipients: string[];
  bounceType?: 'Permanent' | 'Transient' | 'Undetermined';
  bounceSubType?: string;
  /** The envelope sender the message was sent with (our VERP address). */
  source?: string;
  /** The Message-ID header of the message that bounced. */
  messageIdHeader?: string;
  diagnosticCode?: string;
  status?: string;
  timestamp?: string;
}

/** The JSON text of an SES Bounce notification. */
export function sesBounceMessage(sample: SesBounceSample): string {
  const timestamp = sample.timestamp ?? '2024-05-01T12:00:00.000Z';
  return JSON.stringify({
    notificationType: 'Bounce',
    bounce: {
      feedbackId: '0100018f3a1c2b3d-bounce-000000',
      bounceType: sample.bounceType ?? 'Permanent',
      bounceSubType: sample.bounceSubType ?? 'General',
      bouncedRecipients: sample.recipients.map((emailAddress) => ({
        emailAddress,
        action: 'failed',
        status: sample.status ?? '5.1.1',
        diagnosticCode: sample.diagnosticCode ?? 'smtp; 550 5.1.1 user unknown',
      })),
      timestamp,
      remoteMtaIp: '203.0.113.7',
      reportingMTA: 'dsn; a8-70.smtp-out.amazonses.com',
    },
    mail: {
      timestamp,
      messageId: '0100018f3a1c2b3d-ses-message-id-000000',
      source: sample.source ?? 'sender@example.com',
      sourceArn: 'arn:aws:ses:us-east-1:123456789012:identity/example.com',
      sendingAccountId: '123456789012',
      destination: sample.recipients,
      headersTruncated: false,
      headers: sample.messageIdHeader ? [{ name: 'Message-ID', value: sample.messageIdHeader }] : [],
      commonHeaders: {
        from: ['sender@example.com'],
        to: sample.recipients,
        ...(sample.messageIdHeader ? { messageId: sample.messageIdHeader } : {}),
        subject: 'Hello',
      },
    },
  });
}
