// The certificate fetcher against a server on loopback (nothing leaves the machine), and the
// whole SNS path as the end-to-end test runs it: certificate served locally, host check pointed at it.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebhookRejected } from './report';
import { verifySnsMessage } from './ses';
import { createCertificateFetcher, isSnsEndpointUrl, SnsCertificateUnavailable } from './sns-certificate';
import { sesBounceMessage } from './testing/ses-samples';
import { createSnsTestCertificate, signSnsMessage } from './testing/sns-signer';

let server: Server;
let origin: string;
let certificate: string;
let privateKey: string;
const hits: string[] = [];

beforeAll(async () => {
  ({ certificate, privateKey } = await createSnsTestCertificate());
  server = createServer((req, res) => {
    hits.push(req.url!);
    if (req.url === '/cert.pem') res.end(certificate);
    else if (req.url === '/huge.pem') res.end('x'.repeat(70 * 1024));
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => hits.splice(0));

describe('SNS signing certificates', () => {
  it('are fetched once per URL', async () => {
    const fetchCertificate = createCertificateFetcher();
    await expect(fetchCertificate(`${origin}/cert.pem`)).resolves.toBe(certificate);
    await expect(fetchCertificate(`${origin}/cert.pem`)).resolves.toBe(certificate);
    expect(hits).toEqual(['/cert.pem']);
  });

  it('refuse a missing or oversized certificate with 401, and are not cached then', async () => {
    const fetchCertificate = createCertificateFetcher();
    await expect(fetchCertificate(`${origin}/nothing.pem`)).rejects.toMatchObject({ status: 401 });
    await expect(fetchCertificate(`${origin}/huge.pem`)).rejects.toBeInstanceOf(WebhookRejected);
    await expect(fetchCertificate(`${origin}/nothing.pem`)).rejects.toMatchObject({ status: 401 });
    expect(hits).toEqual(['/nothing.pem', '/huge.pem', '/nothing.pem']);
  });

  it('report an unreachable host as unavailable (worth a retry), not as a forgery', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await expect(createCertificateFetcher()(`http://127.0.0.1:${port}/cert.pem`)).rejects.toBeInstanceOf(
      SnsCertificateUnavailable,
    );
  });

  it('verify an SES bounce signed like SNS with the certificate on loopback', async () => {
    const topicArn = 'arn:aws:sns:eu-west-1:123456789012:ses-bounces';
    const body = signSnsMessage(
      {
        Type: 'Notification',
        MessageId: 'b6a8b8a1-0c1f-5f0e-9d6a-2f4c8e0e9a11',
        TopicArn: topicArn,
        Message: sesBounceMessage({ recipients: ['jane@example.org'] }),
        Timestamp: new Date().toISOString(),
      },
      { version: 2, certUrl: `${origin}/cert.pem`, privateKey },
    );
    expect(isSnsEndpointUrl(new URL(`${origin}/cert.pem`))).toBe(false);
    const message = await verifySnsMessage(JSON.parse(JSON.stringify(body)), {
      topicArnAllowed: (arn) => arn === topicArn,
      certUrlAllowed: (url) => url.origin === origin,
      now: new Date(),
    });
    expect(message).toMatchObject({
      kind: 'notification',
      reports: [{ type: 'bounce', bounceType: 'hard', address: 'jane@example.org' }],
    });
    expect(hits).toEqual(['/cert.pem']);
  });
});
