// The analytics HTTP API as OpenAPI 3.1, assembled from what each slice documents.
export interface DocumentedRoute {
  method: 'get' | 'post' | 'put' | 'delete';
  /** OpenAPI path, e.g. /v1/segments/{segmentId} */
  path: string;
  summary: string;
  scope: 'analytics:read' | 'analytics:write';
  body?: object;
}

const ROUTES: DocumentedRoute[] = [];

/** Slices call this at module load for each route they serve. */
export function documentRoutes(routes: DocumentedRoute[]): void {
  ROUTES.push(...routes);
}

export function openApiDocument() {
  const paths: Record<string, Record<string, object>> = {};
  for (const r of ROUTES) {
    paths[r.path] ??= {};
    paths[r.path]![r.method] = {
      summary: r.summary,
      security: [{ apiKey: [r.scope] }],
      parameters: [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
        name: m[1],
        in: 'path',
        required: true,
        schema: { type: 'string' },
      })),
      ...(r.body ? { requestBody: { content: { 'application/json': { schema: r.body } } } } : {}),
      responses: {
        '200': { description: 'OK', content: { 'application/json': { schema: { type: 'object' } } } },
        '400': {
          description: 'Invalid input; `errors` name each fault',
          content: { 'application/problem+json': { schema: { type: 'object' } } },
        },
        '401': { description: 'Missing, unknown or revoked API key' },
        '403': { description: 'The key lacks the scope' },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'CMIS analytics', version: '1' },
    paths,
    components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
  };
}
