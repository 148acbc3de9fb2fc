// Signs messages the way Amazon SNS does, for specs and the end-to-end test: a key pair, a
// self-signed certificate to serve on loopback, and bodies byte-compatible with SNS's.
// node-forge is a devDependency, so it is loaded only when a certificate is made: importing this
// module from production code costs nothing and needs nothing installed.
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { SNS_DIGEST, snsStringToSign, type SnsSignedFields } from '../sns-signing';

export interface SnsTestCertificate {
  /** PKCS#8 PEM, for signSnsMessage. */
  privateKey: string;
  /** The X.509 certificate (PEM) to serve at the SigningCertURL. */
  certificate: string;
}

/**
 * An RSA key pair and a self-signed certificate for it, valid a day either side of `now`. The key
 * comes from node:crypto (native, milliseconds; forge's pure-JS generation takes seconds), the
 * certificate from node-forge (node:crypto cannot issue one).
 */
export async function createSnsTestCertificate(
  opts: { commonName?: string; now?: Date } = {},
): Promise<SnsTestCertificate> {
  const { default: forge } = await import('node-forge');
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const now = opts.now ?? new Date();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  // A positive serial: the top bit clear, as DER integers are signed.
  cert.serialNumber = `0${randomBytes(15).toString('hex')}`;
  cert.validity.notBefore = new Date(now.getTime() - 86_400_000);
  cert.validity.notAfter = new Date(now.getTime() + 86_400_000);
  const name = [{ name: 'commonName', value: opts.commonName ?? 'sns.amazonaws.com' }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.sign(forge.pki.privateKeyFromPem(privateKey), forge.md.sha256.create());
  return { privateKey, certificate: forge.pki.certificateToPem(cert) };
}

/** An SNS HTTP body: the fields SNS posts, in the order SNS posts them, signed. */
export type SnsBody = Record<string, string>;

export function signSnsMessage(
  fields: SnsSignedFields,
  opts: { version: 1 | 2; certUrl: string; privateKey: string; unsubscribeUrl?: string },
): SnsBody {
  const version = String(opts.version) as keyof typeof SNS_DIGEST;
  const signature = sign(
    SNS_DIGEST[version],
    Buffer.from(snsStringToSign(fields), 'utf8'),
    opts.privateKey,
  ).toString('base64');
  const signed = { SignatureVersion: version, Signature: signature, SigningCertURL: opts.certUrl };
  if (fields.Type === 'Notification')
    return {
      Type: fields.Type,
      MessageId: fields.MessageId,
      TopicArn: fields.TopicArn,
      ...(fields.Subject !== undefined ? { Subject: fields.Subject } : {}),
      Message: fields.Message,
      Timestamp: fields.Timestamp,
      ...signed,
      UnsubscribeURL:
        opts.unsubscribeUrl ??
        `${new URL(opts.certUrl).origin}/?Action=Unsubscribe&SubscriptionArn=${fields.TopicArn}:${fields.MessageId}`,
    };
  return {
    Type: fields.Type,
    MessageId: fields.MessageId,
    Token: fields.Token!,
    TopicArn: fields.TopicArn,
    Message: fields.Message,
    SubscribeURL: fields.SubscribeURL!,
    Timestamp: fields.Timestamp,
    ...signed,
  };
}
