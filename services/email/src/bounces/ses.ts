// Amazon SES reports arrive as SNS HTTP(S) messages. Nothing in one is believed before its
// signature verifies against a certificate fetched from an SNS endpoint, and its topic is one the
// org allowed. https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
import { X509Certificate, verify } from 'node:crypto';
import { objectOf, textOf } from './payload';
import { WebhookRejected, type DeliveryReport } from './report';
import { parseSesNotification } from './ses-notification';
import { fetchSnsCertificate, isSnsEndpointUrl } from './sns-certificate';
import { SNS_DIGEST, snsStringToSign, type SnsMessageType, type SnsSignedFields } from './sns-signing';

export interface SnsOptions {
  topicArnAllowed: (arn: string) => boolean;
  /** Default: https and a host matching sns.<region>.amazonaws.com(.cn). Also applied to SubscribeURL. */
  certUrlAllowed?: (url: URL) => boolean;
  /** Default: fetch with a 5 s timeout, a 64 KiB cap, cached per URL. */
  fetchCertificate?: (url: string) => Promise<string>;
  /** When given, a message whose Timestamp is further than toleranceSeconds from it is refused. */
  now?: Date;
  /** Default 3600: SNS retries a delivery with the message's original Timestamp and signature. */
  toleranceSeconds?: number;
}

export type SnsMessage =
  | { kind: 'subscription-confirmation'; subscribeUrl: string; topicArn: string }
  | { kind: 'notification'; topicArn: string; reports: DeliveryReport[] }
  | { kind: 'unsubscribe-confirmation'; topicArn: string };

const TYPES: readonly SnsMessageType[] = [
  'Notification',
  'SubscriptionConfirmation',
  'UnsubscribeConfirmation',
];

const malformed = (what: string) => new WebhookRejected(400, `malformed SNS message: ${what}`);

function urlOf(text: string, field: string): URL {
  try {
    return new URL(text);
  } catch {
    throw malformed(`${field} is not a URL`);
  }
}

/** The signed fields and signature of a body, or a 400 saying what is missing. */
function readMessage(body: unknown) {
  const message = objectOf(body);
  if (!message) throw malformed('the body is not a JSON object');
  const required = (name: string) => {
    const value = textOf(message[name]);
    if (value === undefined) throw malformed(`${name} is missing`);
    return value;
  };
  const type = required('Type') as SnsMessageType;
  if (!TYPES.includes(type)) throw malformed(`unknown Type ${type}`);
  const subject = message.Subject;
  if (subject !== undefined && subject !== null && typeof subject !== 'string')
    throw malformed('Subject is not text');
  const confirmation = type !== 'Notification';
  const fields: SnsSignedFields = {
    Type: type,
    MessageId: required('MessageId'),
    TopicArn: required('TopicArn'),
    Message: required('Message'),
    Timestamp: required('Timestamp'),
    ...(typeof subject === 'string' && !confirmation ? { Subject: subject } : {}),
    ...(confirmation ? { Token: required('Token'), SubscribeURL: required('SubscribeURL') } : {}),
  };
  return {
    fields,
    signature: required('Signature'),
    signatureVersion: required('SignatureVersion'),
    signingCertUrl: required('SigningCertURL'),
  };
}

function signatureVerifies(pem: string, digest: string, text: string, signature: string): boolean {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(pem);
  } catch {
    throw new WebhookRejected(401, 'the signing certificate is not an X.509 certificate');
  }
  try {
    return verify(digest, Buffer.from(text, 'utf8'), certificate.publicKey, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

export async function verifySnsMessage(body: unknown, opts: SnsOptions): Promise<SnsMessage> {
  const { fields, signature, signatureVersion, signingCertUrl } = readMessage(body);
  const digest = SNS_DIGEST[signatureVersion as keyof typeof SNS_DIGEST];
  if (!digest) throw new WebhookRejected(401, `unknown SignatureVersion ${signatureVersion}`);

  // Both URLs are checked before anything is fetched: a refused host is never contacted.
  const allowed = opts.certUrlAllowed ?? isSnsEndpointUrl;
  if (!allowed(urlOf(signingCertUrl, 'SigningCertURL')))
    throw new WebhookRejected(403, `SigningCertURL ${signingCertUrl} is not an SNS endpoint`);
  if (fields.SubscribeURL && !allowed(urlOf(fields.SubscribeURL, 'SubscribeURL')))
    throw new WebhookRejected(403, `SubscribeURL ${fields.SubscribeURL} is not an SNS endpoint`);

  if (opts.now) {
    const at = Date.parse(fields.Timestamp);
    if (Number.isNaN(at)) throw malformed('Timestamp is not a date');
    if (Math.abs(opts.now.getTime() - at) > (opts.toleranceSeconds ?? 3600) * 1000)
      throw new WebhookRejected(401, `the SNS message's Timestamp ${fields.Timestamp} is too far from now`);
  }

  const pem = await (opts.fetchCertificate ?? fetchSnsCertificate)(signingCertUrl);
  if (!signatureVerifies(pem, digest, snsStringToSign(fields), signature))
    throw new WebhookRejected(401, 'the SNS signature does not verify');
  if (!opts.topicArnAllowed(fields.TopicArn))
    throw new WebhookRejected(403, `topic ${fields.TopicArn} is not on this org's allowlist`);

  const topicArn = fields.TopicArn;
  switch (fields.Type) {
    case 'SubscriptionConfirmation':
      return { kind: 'subscription-confirmation', subscribeUrl: fields.SubscribeURL!, topicArn };
    case 'UnsubscribeConfirmation':
      return { kind: 'unsubscribe-confirmation', topicArn };
    case 'Notification':
      return { kind: 'notification', topicArn, reports: parseSesNotification(fields.Message) };
    default: {
      const never: never = fields.Type;
      throw malformed(`unknown Type ${String(never)}`);
    }
  }
}
