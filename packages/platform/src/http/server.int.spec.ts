import express from 'express';
import { startHttpServer } from './index';

/** An app whose /slow route answers only when the test says so. */
function appWithSlowRoute() {
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  let entered: () => void = () => undefined;
  const slowStarted = new Promise<void>((resolve) => (entered = resolve));
  const app = express();
  app.get('/slow', (_req, res) => {
    entered();
    void released.then(() => res.json({ finished: true }));
  });
  app.get('/fast', (_req, res) => {
    res.json({ fast: true });
  });
  return { app, release, slowStarted };
}

describe('startHttpServer', () => {
  it('listens on an OS-chosen port and reports a callable URL', async () => {
    const { app } = appWithSlowRoute();
    const server = await startHttpServer(app, 0);
    try {
      expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
      expect(server.port).toBeGreaterThan(0);
      expect(await (await fetch(`${server.url}/fast`)).json()).toEqual({ fast: true });
    } finally {
      await server.close();
    }
  });

  it('close stops accepting, lets the in-flight request finish, then resolves', async () => {
    const { app, release, slowStarted } = appWithSlowRoute();
    const server = await startHttpServer(app, 0, '127.0.0.1');
    await (await fetch(`${server.url}/fast`)).json(); // leaves an idle keep-alive connection behind

    const inFlight = fetch(`${server.url}/slow`);
    await slowStarted;
    let closed = false;
    const closing = server.close({ deadlineMs: 5_000 }).then(() => (closed = true));

    await expect(fetch(`${server.url}/fast`)).rejects.toThrow();
    expect(closed).toBe(false);
    release();
    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ finished: true });
    await closing;
    expect(closed).toBe(true);
  });

  it('cuts requests still running at the deadline', async () => {
    const { app, slowStarted } = appWithSlowRoute();
    const server = await startHttpServer(app, 0, '127.0.0.1');
    const inFlight = fetch(`${server.url}/slow`);
    await slowStarted;

    const startedClosing = Date.now();
    await server.close({ deadlineMs: 150 });

    expect(Date.now() - startedClosing).toBeGreaterThanOrEqual(140);
    await expect(inFlight).rejects.toThrow();
  });

  it('returns the same promise when closed twice', async () => {
    const { app } = appWithSlowRoute();
    const server = await startHttpServer(app, 0, '127.0.0.1');

    const first = server.close();
    expect(server.close()).toBe(first);
    await first;
  });

  it('rejects when the port is taken', async () => {
    const { app } = appWithSlowRoute();
    const server = await startHttpServer(app, 0, '127.0.0.1');
    try {
      await expect(startHttpServer(app, server.port, '127.0.0.1')).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await server.close();
    }
  });

  it("gives an express app's requests and responses its prototypes from birth, for every server of it", async () => {
    const { app } = appWithSlowRoute();
    const before = { request: app.request, response: app.response };
    // A property the app's request prototype carries (as createHttpApp's accessors are carried).
    Object.assign(app.request, { greeting: 'from the app' });
    app.get('/who', (req, res) => {
      res.json({
        greeting: (req as unknown as { greeting?: string }).greeting,
        app: req.app === app,
        accepts: req.accepts('json'),
      });
    });
    const servers = [await startHttpServer(app, 0, '127.0.0.1'), await startHttpServer(app, 0, '127.0.0.1')];
    try {
      for (const server of servers) {
        const born: boolean[] = [];
        // Runs before express sees the request: the prototypes are already the app's.
        server.server.prependListener('request', (req, res) => {
          born.push(
            Object.getPrototypeOf(req) === app.request && Object.getPrototypeOf(res) === app.response,
          );
        });
        const response = await fetch(`${server.url}/who`, {
          headers: { accept: 'application/json' },
        });
        expect(await response.json()).toEqual({
          greeting: 'from the app',
          app: true,
          accepts: 'json',
        });
        expect(born).toEqual([true]);
      }
      // The app's prototypes were replaced by equivalents: same parents, same properties.
      expect(Object.getPrototypeOf(app.request)).toBe(Object.getPrototypeOf(before.request));
      expect(Object.getPrototypeOf(app.response)).toBe(Object.getPrototypeOf(before.response));
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
  });
});
