import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RunningHttpServer {
  /** Base URL to call the server on, e.g. `http://127.0.0.1:43121`. */
  url: string;
  port: number;
  server: Server;
  /**
   * Stops accepting connections, lets in-flight requests finish, then resolves. Requests still
   * running after `deadlineMs` have their connections cut. Calling it again returns the same promise.
   */
  close(options?: { deadlineMs?: number }): Promise<void>;
}

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

export async function startHttpServer(
  app: RequestListener,
  port: number,
  host = '0.0.0.0',
): Promise<RunningHttpServer> {
  const server = createServer();
  const inFlight = new Set<ServerResponse>();
  let closing: Promise<void> | undefined;

  // Registered before the app so the header is set before the app can send anything.
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    inFlight.add(res);
    // During shutdown a kept-alive connection must not carry another request.
    if (closing) res.setHeader('Connection', 'close');
    res.once('close', () => {
      inFlight.delete(res);
      if (closing) server.closeIdleConnections();
    });
  });
  server.on('request', app);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;

  const close = ({ deadlineMs = 10_000 }: { deadlineMs?: number } = {}): Promise<void> => {
    closing ??= new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(() => server.closeAllConnections(), deadlineMs);
      deadline.unref();
      server.close((error) => {
        clearTimeout(deadline);
        if (error) reject(error);
        else resolve();
      });
      server.closeIdleConnections();
    });
    return closing;
  };

  return { url: `http://${urlHost(address)}:${address.port}`, port: address.port, server, close };
}

function urlHost(address: AddressInfo): string {
  if (address.address === '0.0.0.0') return '127.0.0.1';
  if (address.address === '::') return '[::1]';
  return address.family === 'IPv6' ? `[${address.address}]` : address.address;
}
