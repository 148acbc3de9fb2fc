import type { Router } from 'express';

/** One route an express router serves, its path in OpenAPI's form (`/v1/rules/{ruleId}`). */
export interface ServedRoute {
  method: string;
  path: string;
}

/** Every route of `router` (its own and those of routers mounted without a path). */
export function servedRoutes(router: Router): ServedRoute[] {
  const found: ServedRoute[] = [];
  const stack = (router as unknown as { stack: Array<Layer> }).stack;
  for (const layer of stack) {
    if (layer.route) {
      const path = layer.route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      for (const method of Object.keys(layer.route.methods)) found.push({ method, path });
    } else if (layer.name === 'router' && layer.handle) {
      found.push(...servedRoutes(layer.handle as unknown as Router));
    }
  }
  return found;
}

interface Layer {
  name?: string;
  handle?: unknown;
  route?: { path: string; methods: Record<string, boolean> };
}

/** The served routes an OpenAPI document does not describe (method and path). */
export function undocumentedRoutes(
  router: Router,
  document: { paths: Record<string, Record<string, unknown>> },
): string[] {
  return servedRoutes(router)
    .filter(({ method, path }) => document.paths[path]?.[method] === undefined)
    .map(({ method, path }) => `${method.toUpperCase()} ${path}`);
}
