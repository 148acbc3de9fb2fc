export { createService, createAnalyticsService, type AnalyticsServiceOptions } from './service';
export { openApiDocument } from './openapi';
