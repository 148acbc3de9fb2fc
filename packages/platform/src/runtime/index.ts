export type { ServiceRuntime, ServiceModule, CreateService } from './service';
export { createPlatform, type Platform, type PlatformConfig, type PlatformOptions } from './platform';
export {
  startService,
  migrateService,
  platformMigrations,
  type RunningService,
  type StartServiceOptions,
  type ServiceDatabaseOptions,
} from './runtime';
export { ensureCatalogTopics } from './provision';
export {
  startServiceProcess,
  migrateServiceProcess,
  serviceProcessConfig,
  runServiceMain,
  mountAdmin,
  type ServiceMainOptions,
  type RunningServiceProcess,
} from './main';
