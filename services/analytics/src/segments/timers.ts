// The analytics service's one timer poller. The timers table is per schema, so one slice must
// own it: this one (segments) puts `...timerMigrations` in its migrations and starts the poller;
// other slices (rfm's daily aging) register their handlers here by kind. One per service
// instance (its SliceContext).
import { createTimerPoller, type TimerHandler, type TimerPoller } from '@cmis/platform';
import type { SliceContext } from '../slice';

export interface AnalyticsTimers {
  /** Registers the handler of a kind of timer; the poller looks it up when one fires. */
  handle(kind: string, handler: TimerHandler): void;
  poller: TimerPoller;
}

const byContext = new WeakMap<SliceContext, AnalyticsTimers>();

export function analyticsTimers(ctx: SliceContext): AnalyticsTimers {
  const existing = byContext.get(ctx);
  if (existing) return existing;
  const { rt, now } = ctx;
  const handlers: Record<string, TimerHandler> = {};
  const timers: AnalyticsTimers = {
    handle: (kind, handler) => {
      handlers[kind] = handler;
    },
    poller: createTimerPoller({
      db: rt.db,
      logger: rt.logger,
      metrics: rt.metrics,
      service: rt.name,
      now,
      intervalMs: 250,
      handlers,
      onFired: () => rt.relay.wake(),
    }),
  };
  byContext.set(ctx, timers);
  return timers;
}
