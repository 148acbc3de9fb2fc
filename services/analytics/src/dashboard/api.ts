// The dashboard's routes: the page and its assets (public: the page is a login form until a
// session exists), the session made from an API key, and the charts' data (session or key).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  apiKeyFromHeaders,
  asyncHandler,
  ForbiddenError,
  UnauthorizedError,
  validate,
  type ApiKeyPrincipal,
} from '@cmis/platform';
import type { Request, Response, Router } from 'express';
import { z } from 'zod';
import { documentRoutes } from '../openapi';
import type { SliceContext } from '../slice';
import { dashboardData } from './data';
import { dashboardPage } from './page';
import {
  clearedSessionCookie,
  createSessionStore,
  sessionCookie,
  sessionTokenFrom,
  type SessionStore,
} from './sessions';

export const READ_SCOPE = 'analytics:read';

documentRoutes([
  {
    method: 'get',
    path: '/dashboard',
    summary: 'The dashboard page (no key needed: it asks for one)',
    scope: READ_SCOPE,
  },
  { method: 'get', path: '/dashboard/app.js', summary: "The dashboard's script", scope: READ_SCOPE },
  { method: 'get', path: '/dashboard/app.css', summary: "The dashboard's styles", scope: READ_SCOPE },
  {
    method: 'get',
    path: '/dashboard/chart.js',
    summary: 'Chart.js, as its package ships it',
    scope: READ_SCOPE,
  },
  {
    method: 'post',
    path: '/dashboard/session',
    summary: 'Log in with an API key (analytics:read): sets an HttpOnly session cookie',
    scope: READ_SCOPE,
    body: { type: 'object', required: ['apiKey'], properties: { apiKey: { type: 'string' } } },
  },
  { method: 'post', path: '/dashboard/logout', summary: 'End the session', scope: READ_SCOPE },
  {
    method: 'get',
    path: '/dashboard/data',
    summary: "Every panel's numbers (session cookie or Bearer key)",
    scope: READ_SCOPE,
  },
]);

// Our own files only: no inline script or style, nothing from elsewhere.
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'";

// src/dashboard/assets, whether this module runs from src/ (tests) or dist/ (the service).
const ASSETS = join(__dirname, '..', '..', 'src', 'dashboard', 'assets');

const LoginBody = z.object({ apiKey: z.string().min(1).max(200) }).strict();

function hasScope(scopes: string[], scope: string): boolean {
  return scopes.includes(scope) || scopes.includes('*');
}

export function dashboardRoutes(router: Router, ctx: SliceContext): void {
  const sessions: SessionStore = createSessionStore(ctx.rt.db, ctx.now);
  const asset = (file: string) => readFileSync(file, 'utf8');
  const files = {
    'app.js': { body: asset(join(ASSETS, 'app.js')), type: 'text/javascript; charset=utf-8' },
    'app.css': { body: asset(join(ASSETS, 'app.css')), type: 'text/css; charset=utf-8' },
    'chart.js': {
      body: asset(join(dirname(require.resolve('chart.js')), 'chart.umd.min.js')),
      type: 'text/javascript; charset=utf-8',
    },
  };
  const cookiePath = (req: Request) => `${req.baseUrl}/dashboard`;

  router.get('/dashboard', (req, res) => {
    res
      .set('content-security-policy', CSP)
      .set('cache-control', 'no-store')
      .type('html')
      .send(dashboardPage(`${req.baseUrl}/dashboard/`));
  });
  for (const [name, file] of Object.entries(files)) {
    router.get(`/dashboard/${name}`, (_req, res) => {
      res.set('cache-control', 'public, max-age=300').type(file.type).send(file.body);
    });
  }

  router.post(
    '/dashboard/session',
    validate({ body: LoginBody }),
    asyncHandler(async (req: Request, res: Response) => {
      const principal = await ctx.rt.auth.authenticate((req.body as z.infer<typeof LoginBody>).apiKey);
      if (!hasScope(principal.scopes, READ_SCOPE)) {
        throw new ForbiddenError(`The API key lacks the scope ${READ_SCOPE}`);
      }
      const token = await sessions.create(principal);
      res
        .set('set-cookie', sessionCookie(token, { path: cookiePath(req), secure: req.secure }))
        .status(200)
        .json({ orgId: principal.orgId });
    }),
  );

  router.post(
    '/dashboard/logout',
    asyncHandler(async (req: Request, res: Response) => {
      const token = sessionTokenFrom(req.headers.cookie);
      if (token) await sessions.end(token);
      res
        .set('set-cookie', clearedSessionCookie({ path: cookiePath(req), secure: req.secure }))
        .status(204)
        .end();
    }),
  );

  /** The session's org, or the Bearer key's; 401 with neither, 403 without analytics:read. */
  const principalOf = async (req: Request): Promise<Pick<ApiKeyPrincipal, 'orgId' | 'scopes'>> => {
    const token = sessionTokenFrom(req.headers.cookie);
    const session = token ? await sessions.find(token) : undefined;
    if (session) return session;
    const key = apiKeyFromHeaders(req.headers);
    if (key) return ctx.rt.auth.authenticate(key);
    throw new UnauthorizedError('Log in at the dashboard, or send an API key (Authorization: Bearer <key>)');
  };

  router.get(
    '/dashboard/data',
    asyncHandler(async (req: Request, res: Response) => {
      const principal = await principalOf(req);
      if (!hasScope(principal.scopes, READ_SCOPE)) {
        throw new ForbiddenError(`The API key lacks the scope ${READ_SCOPE}`);
      }
      const data = await dashboardData(ctx.rt.db, principal.orgId, ctx.now(), (panel, error) =>
        ctx.rt.logger.error({ err: error, panel, orgId: principal.orgId }, 'dashboard panel failed'),
      );
      res.set('cache-control', 'no-store').json(data);
    }),
  );
}
