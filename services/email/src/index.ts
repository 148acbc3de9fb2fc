export { createService, createEmailService, type EmailServiceOptions } from './service';
export { emailDemo, WELCOME_TEMPLATE } from './demo';
export { openApiDocument } from './openapi';
// Fixtures for other packages' tests (the end-to-end tests sign SES notifications as SNS does).
export * as emailTestFixtures from './testing/fixtures';
// The email service's own /metrics (the dashboards and alerts in deploy/ read them).
export { emailMetricsOf, type EmailMetrics } from './metrics';
