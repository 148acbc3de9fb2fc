export { createLogger, activeTraceFields } from './create-logger';
export type { Logger, LoggerOptions } from './create-logger';
export { captureLogLines } from './capture-log-lines';
