import {
  createServer,
  IncomingMessage,
  Server,
  ServerOptions,
  ServerResponse,
  STATUS_CODES,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { problemType } from './problems';

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

const CLASSES = Symbol('cmis.messageClasses');

/**
 * Request and response classes whose instances are born with the app's prototypes. Express
 * otherwise swaps the prototype of every request and response (Object.setPrototypeOf in its init
 * middleware), and objects changed so make the HTTP code that touches them after much slower:
 * measured at ~60 µs of CPU per request, a third of a small POST's cost. With these, express's
 * swap finds the prototype already in place and does nothing.
 *
 * Subclasses of node's, so that V8 sizes their objects as node's (plain functions calling node's
 * constructors on objects of the app's prototype were measured ~15 µs per request slower); each
 * class's prototype takes the place of the app's (same properties, same parent) as
 * `app.request` / `app.response`.
 */
function messageClasses(app: WithPrototypes): ServerOptions {
  const { request, response } = app;
  if (!inherits(request, IncomingMessage.prototype) || !inherits(response, ServerResponse.prototype))
    return {};
  const made = (request as { [CLASSES]?: ServerOptions })[CLASSES];
  if (made) return made;
  class AppRequest extends IncomingMessage {}
  class AppResponse extends ServerResponse {}
  const classes: ServerOptions = {
    IncomingMessage: AppRequest,
    ServerResponse: AppResponse as typeof ServerResponse,
  };
  takePlaceOf(AppRequest.prototype, request);
  takePlaceOf(AppResponse.prototype, response);
  Object.defineProperty(AppRequest.prototype, CLASSES, { value: classes });
  app.request = AppRequest.prototype;
  app.response = AppResponse.prototype;
  return classes;
}

/** `target` gets `prototype`'s own properties (its constructor aside) and its parent. */
function takePlaceOf(target: object, prototype: object): void {
  const { constructor: _constructor, ...properties } = Object.getOwnPropertyDescriptors(prototype);
  Object.defineProperties(target, properties);
  Object.setPrototypeOf(target, Object.getPrototypeOf(prototype));
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
  server.on('clientError', answerClientError);

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

/**
 * A request node's parser refused before express saw it (headers over the size limit, a malformed
 * request line or header, a header timeout): node's own answer is a bare status line; every CMIS
 * error is problem+json, so this one is too. The connection closes, as node's default does.
 */
function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  const pending = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || pending?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, slug, detail] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers-too-large', 'The request line and headers exceed the size limit']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request-timeout', 'The request did not arrive in time']
        : [400, 'malformed-request', 'The request is not well-formed HTTP'];
  const title = STATUS_CODES[status] ?? 'Bad request';
  const body = JSON.stringify({ type: problemType(slug), title, status, detail });
  socket.end(
    `HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function urlHost(address: AddressInfo): string {
  if (address.address === '0.0.0.0') return '127.0.0.1';
  if (address.address === '::') return '[::1]';
  return address.family === 'IPv6' ? `[${address.address}]` : address.address;
}
