// A durable timer's firing continues the trace it was scheduled in (a workflow's delay before its
// email stays in the trace of the action that enrolled the contact), except a timer scheduled
// again from its own firing: each tick of a recurring one is a trace of its own.
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { testEnv, throwawayOrg, uniqueSchema } from '@cmis/testkit';
import { createDatabase, withOrg } from '../db';
import { dropDatabase } from '../db/testing';
import { createLogger } from '../logging';
import { platformMigrations } from '../runtime';
import { createTimerPoller, scheduleTimer, timerMigrations } from '../timers';
import { startTelemetry, type Telemetry } from './telemetry';

const T0 = new Date('2031-03-01T12:00:00Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

describe('timer firings and traces (real Postgres, the OpenTelemetry SDK with an in-memory exporter)', () => {
  const exporter = new InMemorySpanExporter();
  let telemetry: Telemetry;
  const db = createDatabase({ url: testEnv().databaseUrl, schema: uniqueSchema('timer_trace') });
  beforeAll(async () => {
    telemetry = startTelemetry({
      serviceName: 'timer-trace',
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    await db.migrate([...platformMigrations, ...timerMigrations]);
  });
  afterAll(async () => {
    await dropDatabase(db);
    await telemetry.shutdown();
  });

  it('a delay fires in the trace that scheduled it; a recurring tick starts a trace per firing', async () => {
    const { orgId } = throwawayOrg();
    const tracer = trace.getTracer('spec');
    let now = T0;
    // What each firing's handler saw as its active span: trace id and span id.
    const seen: Array<{ timerId: string; traceId?: string; spanId?: string }> = [];
    const record = (timerId: string) => {
      const active = trace.getActiveSpan()?.spanContext();
      seen.push({ timerId, traceId: active?.traceId, spanId: active?.spanId });
    };
    const poller = createTimerPoller({
      db,
      logger: createLogger({ service: 'timer-trace', level: 'silent' }),
      service: 'timer-trace',
      now: () => now,
      handlers: {
        delay: async (_trx, timer) => record(timer.timerId),
        tick: async (trx, timer) => {
          record(timer.timerId);
          await scheduleTimer(trx, { orgId, timerId: timer.timerId, kind: 'tick', dueAt: at(10) });
        },
      },
    });

    const enroll = await tracer.startActiveSpan('enroll', async (span) => {
      await withOrg(db.app, orgId, (trx) =>
        scheduleTimer(trx, { orgId, timerId: 'delay-1', kind: 'delay', dueAt: T0 }),
      );
      span.end();
      return span.spanContext();
    });
    const created = await tracer.startActiveSpan('create schedule', async (span) => {
      await withOrg(db.app, orgId, (trx) =>
        scheduleTimer(trx, { orgId, timerId: 'tick-1', kind: 'tick', dueAt: T0 }),
      );
      span.end();
      return span.spanContext();
    });

    expect(await poller.runOnce()).toBe(2);
    now = at(10);
    expect(await poller.runOnce()).toBe(1);

    const fired = exporter.getFinishedSpans().filter((s) => s.name.startsWith('fire timer'));
    const firing = (timerId: string) => fired.filter((s) => s.attributes['cmis.timer_id'] === timerId);
    const [delay] = firing('delay-1');
    expect(delay).toBeDefined();
    // The delay's firing is a child of the span that scheduled it, and its handler ran inside it.
    expect(delay!.spanContext().traceId).toBe(enroll.traceId);
    expect(delay!.parentSpanContext?.spanId).toBe(enroll.spanId);
    expect(seen.find((s) => s.timerId === 'delay-1')).toEqual({
      timerId: 'delay-1',
      traceId: enroll.traceId,
      spanId: delay!.spanContext().spanId,
    });

    // The first tick continues the trace that created the schedule; the next one starts its own.
    const ticks = firing('tick-1');
    expect(ticks).toHaveLength(2);
    expect(ticks[0]!.spanContext().traceId).toBe(created.traceId);
    expect(ticks[0]!.parentSpanContext?.spanId).toBe(created.spanId);
    expect(ticks[1]!.spanContext().traceId).not.toBe(created.traceId);
    expect(ticks[1]!.parentSpanContext).toBeUndefined();
  });
});
