// What registerTopicSchema says when what answers is not a registry: a proxy in front of it that
// has no upstream answers with an HTML page, and the error carries that page's text and status.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { topicByName } from './catalog';
import { registerTopicSchema, SchemaRegistryError, topicValueSubject } from './schema-registry';

describe('registerTopicSchema against an answer that is not JSON', () => {
  let server: Server;
  let url: string;

  beforeAll(async () => {
    server = createServer((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html><body>502 Bad Gateway</body></html>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('refuses with the status and the page text, not a JSON SyntaxError', async () => {
    const failure = await registerTopicSchema(
      url,
      topicByName('cmis.platform.tenancy.v1'),
      topicValueSubject,
    ).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(SchemaRegistryError);
    expect(failure).toMatchObject({
      status: 502,
      message: 'subject cmis.platform.tenancy.v1-value: <html><body>502 Bad Gateway</body></html>',
    });
  });
});
