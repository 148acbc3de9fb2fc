export { apiKeyFrom, hashApiKey, keyIdOf, apiKeyFromHeaders, type IssuedKey } from './api-key';
export { tenancyMigrations } from './migrations';
export { startTenancyProjection, type TenancyProjectionOptions } from './projection';
export { createApiKeyAuth, type ApiKeyAuth, type ApiKeyAuthOptions, type ApiKeyPrincipal } from './auth';
export { createTenancyAdmin, tenancyAdminRouter, CreateOrg, IssueKey, type TenancyAdmin } from './admin';
