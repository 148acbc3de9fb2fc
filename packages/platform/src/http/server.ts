import { createServer, IncomingMessage, Server, ServerOptions, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

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
/** An express app: the prototypes it gives each request and response (`app.request`, `app.response`). */
type WithPrototypes = { request?: unknown; response?: unknown };

/**
 * Request and response classes whose instances are born with the app's prototypes. Express
 * otherwise swaps the prototype of every request and response (Object.setPrototypeOf in its init
 * middleware), and objects changed so make the HTTP code that touches them after much slower:
 * measured at ~60 µs of CPU per request, a third of a small POST's cost. With these, express's
 * swap finds the prototype already in place and does nothing.
 */
function messageClasses(app: WithPrototypes): ServerOptions {
  const { request, response } = app;
  if (!inherits(request, IncomingMessage.prototype) || !inherits(response, ServerResponse.prototype))
    return {};
  const initRequest = asFunction<[Socket]>(IncomingMessage);
  const initResponse = asFunction<[IncomingMessage, unknown]>(ServerResponse);
  // node 20's constructors are plain functions; were they ever classes, express would swap again.
  if (!initRequest || !initResponse) return {};
  // Plain functions too, because a class's `prototype` cannot be replaced. (Reflect.construct
  // with these as new.target was measured slower than express's swap.)
  function AppRequest(this: IncomingMessage, socket: Socket) {
    initRequest!.call(this, socket);
  }
  AppRequest.prototype = request;
  function AppResponse(this: ServerResponse, req: IncomingMessage, options?: unknown) {
    initResponse!.call(this, req, options);
  }
  AppResponse.prototype = response;
  return {
    IncomingMessage: AppRequest as unknown as typeof IncomingMessage,
    ServerResponse: AppResponse as unknown as typeof ServerResponse,
  };
}

/** A constructor that may be called on an object of ours: a function, not a class. */
function asFunction<Args extends unknown[]>(
  constructor: object,
): ((this: object, ...args: Args) => void) | undefined {
  const isClass = Function.prototype.toString.call(constructor).startsWith('class');
  return isClass ? undefined : (constructor as (this: object, ...args: Args) => void);
}

function inherits(value: unknown, prototype: object): value is object {
  return typeof value === 'object' && value !== null && Object.prototype.isPrototypeOf.call(prototype, value);
}

export async function startHttpServer(
  app: RequestListener & WithPrototypes,
  port: number,
  host = '0.0.0.0',
): Promise<RunningHttpServer> {
  const server = createServer(messageClasses(app));
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
