export { timerMigrations } from './migrations';
export { cancelTimer, InvalidTimerError, scheduleTimer, type TimerSpec } from './schedule';
export {
  createTimerPoller,
  defaultTimerRetryDelay,
  type DueTimer,
  type TimerBacklog,
  type TimerHandler,
  type TimerPoller,
  type TimerPollerOptions,
} from './poller';
export { timerMetricsOf, type TimerMetrics } from './metrics';
