// The string Amazon SNS signs, shared by the verifier and the test signer so the two cannot drift.
// Field order per AWS ("Verifying the signatures of Amazon SNS messages",
// https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html): each field
// as "Name\nvalue\n", in byte order of the names, Subject only when the message has one.

export type SnsMessageType = 'Notification' | 'SubscriptionConfirmation' | 'UnsubscribeConfirmation';

/** The signed fields of an SNS message, as SNS posts them. */
export interface SnsSignedFields {
  Type: SnsMessageType;
  MessageId: string;
  TopicArn: string;
  Message: string;
  Timestamp: string;
  Subject?: string;
  /** Confirmations only. */
  Token?: string;
  /** Confirmations only. */
  SubscribeURL?: string;
}

const NOTIFICATION = ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'] as const;
const CONFIRMATION = [
  'Message',
  'MessageId',
  'SubscribeURL',
  'Timestamp',
  'Token',
  'TopicArn',
  'Type',
] as const;

export function snsStringToSign(fields: SnsSignedFields): string {
  const names = fields.Type === 'Notification' ? NOTIFICATION : CONFIRMATION;
  let text = '';
  for (const name of names) {
    const value = fields[name];
    if (value === undefined) {
      if (name === 'Subject') continue;
      throw new Error(`an SNS ${fields.Type} must have ${name}`);
    }
    text += `${name}\n${value}\n`;
  }
  return text;
}

/** SignatureVersion 1 signs with SHA1, 2 with SHA256 (both RSA PKCS#1 v1.5). */
export const SNS_DIGEST = { '1': 'sha1', '2': 'sha256' } as const;
