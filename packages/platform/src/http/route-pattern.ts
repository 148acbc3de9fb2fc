import type { Request } from 'express';

/**
 * Follows express as it routes a request and gives the matched route's full pattern
 * (`/v1/orgs/:orgId/rules/:ruleId`), never the raw URL, for metric labels and logs.
 *
 * Express 4 keeps no mount patterns on the request: `req.baseUrl` is the matched text
 * (`/v1/orgs/o-1`). So we watch each descent into a mounted router, turn the segment it added back
 * into a pattern using the params express has just set for that mount, and record the route's own
 * pattern when express dispatches to it (before an error can unwind `req.baseUrl`).
 * Limitations, for mount paths only (route paths are exact): a mount param must fill a whole
 * segment (`/orgs/:orgId`, not `/:from-:to` or `*`), else its raw value stays in the label; and a
 * param whose value equals a literal segment of the same mount can swap places with it
 * (`/segments/members/:segmentId` when segmentId is "members"), which adds no raw values.
 */
class RouteFollower {
  baseUrl: string | undefined;
  route: unknown = undefined;
  pattern: string | undefined = undefined;
  /** The baseUrl when following began: a pattern of itself (the app's own mount, if any). */
  private root: string | undefined;
  /** Patterns of the mounts entered so far, by matched text; made on the first mount with a path. */
  private mounts: Map<string, string> | undefined;

  constructor(baseUrl: string | undefined) {
    this.baseUrl = baseUrl;
    this.root = baseUrl;
  }

  /** Following starts over from the current baseUrl (observeRequests calls it once per request). */
  restart(): void {
    this.root = this.baseUrl;
    this.mounts = undefined;
    this.pattern = undefined;
  }

  enter(next: string, params: Record<string, unknown>): void {
    if (this.patternOf(next) === undefined) {
      const current = this.baseUrl ?? '';
      const parent = next.startsWith(current) ? current : '';
      const added = next.slice(parent.length);
      (this.mounts ??= new Map()).set(
        next,
        `${this.patternOf(parent) ?? parent}${templatize(added, params)}`,
      );
    }
    this.baseUrl = next;
  }

  dispatched(route: { path?: unknown } | undefined): void {
    this.route = route;
    if (route?.path !== undefined) {
      const base = this.baseUrl ?? '';
      this.pattern = `${this.patternOf(base) ?? base}${String(route.path)}`;
    }
  }

  private patternOf(baseUrl: string | undefined): string | undefined {
    if (baseUrl === '' || baseUrl === this.root) return baseUrl;
    return baseUrl === undefined ? undefined : this.mounts?.get(baseUrl);
  }
}

const FOLLOWER = Symbol('cmis.routeFollower');
type Followed = Request & { [FOLLOWER]?: RouteFollower };

function followerOf(req: Followed): RouteFollower {
  return (req[FOLLOWER] ??= new RouteFollower(undefined));
}

/**
 * Puts `baseUrl` and `route` accessors on the app's request prototype (once, at startup), so
 * following a request costs a small object rather than two properties defined on each request:
 * those made every request slower to use (~40 µs of CPU per request, measured). Requests must be
 * born with this prototype (startHttpServer does that); for one that was not, express has
 * already set `baseUrl` on the request itself and trackRoutePattern follows it as before.
 */
export function routePatternAccessors(requestPrototype: object): void {
  Object.defineProperty(requestPrototype, 'baseUrl', {
    configurable: true,
    get(this: Followed) {
      return this[FOLLOWER]?.baseUrl;
    },
    set(this: Followed, next: string) {
      followerOf(this).enter(next, this.params);
    },
  });
  Object.defineProperty(requestPrototype, 'route', {
    configurable: true,
    get(this: Followed) {
      return this[FOLLOWER]?.route;
    },
    set(this: Followed, next: { path?: unknown } | undefined) {
      followerOf(this).dispatched(next);
    },
  });
}

/** Starts following `req`; the result gives the matched route's pattern once express has routed it. */
export function trackRoutePattern(req: Request): () => string | undefined {
  if (!Object.prototype.hasOwnProperty.call(req, 'baseUrl') && 'baseUrl' in req) {
    const follower = followerOf(req as Followed);
    follower.restart();
    return () => follower.pattern;
  }
  return followOwnProperties(req);
}

/** For a request not born with the accessors: the same following, on properties of its own. */
function followOwnProperties(req: Request): () => string | undefined {
  const follower = new RouteFollower(req.baseUrl);
  Object.defineProperty(req, 'baseUrl', {
    configurable: true,
    enumerable: true,
    get: () => follower.baseUrl,
    set: (next: string) => follower.enter(next, req.params),
  });
  Object.defineProperty(req, 'route', {
    configurable: true,
    enumerable: true,
    get: () => follower.route,
    set: (next: { path?: unknown } | undefined) => follower.dispatched(next),
  });
  return () => follower.pattern;
}

/** `/orgs/o-1` with params { orgId: 'o-1' } becomes `/orgs/:orgId`; each param names one segment. */
function templatize(matched: string, params: Record<string, unknown>): string {
  const unused = new Map(Object.entries(params ?? {}).map(([name, value]) => [name, String(value)]));
  const segments = matched.split('/');
  // Right to left: params usually follow the literal segments that introduce them.
  for (let i = segments.length - 1; i >= 0; i--) {
    const segment = decodeSegment(segments[i] ?? '');
    if (segment === '') continue;
    for (const [name, value] of unused) {
      if (value === segment) {
        segments[i] = `:${name}`;
        unused.delete(name);
        break;
      }
    }
  }
  return segments.join('/');
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
