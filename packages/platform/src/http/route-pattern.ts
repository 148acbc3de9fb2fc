import type { Request } from 'express';

/**
 * Follows express as it routes `req` and returns the matched route's full pattern
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
export function trackRoutePattern(req: Request): () => string | undefined {
  const mountPatterns = new Map<string, string>([['', '']]);
  let baseUrl = req.baseUrl;
  mountPatterns.set(baseUrl, baseUrl);
  let route: unknown;
  let pattern: string | undefined;

  Object.defineProperty(req, 'baseUrl', {
    configurable: true,
    enumerable: true,
    get: () => baseUrl,
    set: (next: string) => {
      if (!mountPatterns.has(next)) {
        const parent = next.startsWith(baseUrl) ? baseUrl : '';
        const added = next.slice(parent.length);
        mountPatterns.set(next, `${mountPatterns.get(parent) ?? parent}${templatize(added, req.params)}`);
      }
      baseUrl = next;
    },
  });
  Object.defineProperty(req, 'route', {
    configurable: true,
    enumerable: true,
    get: () => route,
    set: (next: { path?: unknown } | undefined) => {
      route = next;
      if (next?.path !== undefined) pattern = `${mountPatterns.get(baseUrl) ?? baseUrl}${String(next.path)}`;
    },
  });
  return () => pattern;
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
