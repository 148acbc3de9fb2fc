import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Metrics } from '../http';

type TimerLabel = 'service' | 'kind';

/** What timer pollers report; one set per registry, shared by every poller that writes to it. */
export interface TimerMetrics {
  fired: Counter<TimerLabel>;
  failed: Counter<TimerLabel>;
  parked: Counter<TimerLabel>;
  /** Seconds from due_at to the firing's commit. */
  lateness: Histogram<TimerLabel>;
  /** Timers due and not fired (the platform's timer_backlog gauge). */
  backlog: Metrics['timerBacklog'];
  oldestDueAge: Gauge<'service'>;
  parkedNow: Gauge<'service'>;
}

const byRegistry = new WeakMap<Registry, TimerMetrics>();

export function timerMetricsOf(metrics: Metrics): TimerMetrics {
  const { registry } = metrics;
  const known = byRegistry.get(registry);
  if (known) return known;
  const registers = [registry];
  const labelNames: TimerLabel[] = ['service', 'kind'];
  const created: TimerMetrics = {
    fired: new Counter({
      name: 'timers_fired_total',
      help: 'Timers fired (handler and deletion committed), by service and kind',
      labelNames,
      registers,
    }),
    failed: new Counter({
      name: 'timers_failed_total',
      help: 'Timer firings whose handler failed (rolled back, retried later), by service and kind',
      labelNames,
      registers,
    }),
    parked: new Counter({
      name: 'timers_parked_total',
      help: 'Timers parked after their last allowed attempt failed, by service and kind',
      labelNames,
      registers,
    }),
    lateness: new Histogram({
      name: 'timer_lateness_seconds',
      help: 'Time from a timer being due to its firing committed, by service and kind',
      labelNames,
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
      registers,
    }),
    backlog: metrics.timerBacklog,
    oldestDueAge: new Gauge({
      name: 'timer_oldest_due_age_seconds',
      help: 'How long the oldest timer that is due has been waiting (0 when none is due)',
      labelNames: ['service'],
      registers,
    }),
    parkedNow: new Gauge({
      name: 'timers_parked',
      help: 'Timers parked after failing, waiting for someone to look at them',
      labelNames: ['service'],
      registers,
    }),
  };
  byRegistry.set(registry, created);
  return created;
}
