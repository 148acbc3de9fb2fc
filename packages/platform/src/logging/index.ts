export { createLogger, activeTraceFields } from './create-logger';
export type { Logger, LoggerOptions } from './create-logger';
