export { loadConfig, ConfigError } from './load-config';
export type { ConfigIssue } from './load-config';
export { baseConfig, LogLevel, Port, BrokerList, urlSetting } from './base-config';
export type { BaseConfig, BaseConfigDefaults } from './base-config';
