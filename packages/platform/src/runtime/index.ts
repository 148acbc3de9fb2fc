export type { ServiceRuntime, ServiceModule, CreateService } from './service';
export { createPlatform, type Platform, type PlatformConfig, type PlatformOptions } from './platform';
export { startService, platformMigrations, type RunningService, type StartServiceOptions } from './runtime';
export { ensureCatalogTopics } from './provision';
export {
  startServiceProcess,
  runServiceMain,
  mountAdmin,
  type ServiceMainOptions,
  type RunningServiceProcess,
} from './main';
