import { context, trace, TraceFlags } from '@opentelemetry/api';
import { node } from '@opentelemetry/sdk-node';
import { captureLogLines, createLogger } from './index';

// A real tracer provider: it registers the AsyncLocalStorage context manager, as NodeSDK does in services.
const provider = new node.NodeTracerProvider();
provider.register();
afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
});

describe('createLogger', () => {
  it('writes JSON lines with service, level label and time', () => {
    const { lines, destination } = captureLogLines();
    const logger = createLogger({ service: 'rules', level: 'info', destination });

    logger.info({ ruleId: 'r-1' }, 'rule evaluated');

    expect(lines).toEqual([
      expect.objectContaining({ service: 'rules', level: 'info', msg: 'rule evaluated', ruleId: 'r-1' }),
    ]);
    expect(Date.parse(String(lines[0]?.time))).not.toBeNaN();
  });

  it('adds no trace fields outside a span', () => {
    const { lines, destination } = captureLogLines();
    createLogger({ service: 'rules', destination }).info('no span here');

    expect(lines[0]).not.toHaveProperty('trace_id');
    expect(lines[0]).not.toHaveProperty('span_id');
  });

  it('carries trace_id and span_id of the active span started by a real tracer', () => {
    const { lines, destination } = captureLogLines();
    const logger = createLogger({ service: 'rules', destination }).child({ component: 'consumer' });

    const ids = trace.getTracer('logging-spec').startActiveSpan('evaluate', (span) => {
      logger.info('inside');
      span.end();
      return span.spanContext();
    });
    logger.info('after');

    expect(ids.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(lines[0]).toMatchObject({
      msg: 'inside',
      trace_id: ids.traceId,
      span_id: ids.spanId,
      trace_flags: '01',
    });
    expect(lines[1]).not.toHaveProperty('trace_id');
  });

  it('carries the ids of a span context set on the active context, across an await', async () => {
    const { lines, destination } = captureLogLines();
    const logger = createLogger({ service: 'drip', destination });
    const remote = {
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: TraceFlags.NONE,
      isRemote: true,
    };

    await context.with(trace.setSpanContext(context.active(), remote), async () => {
      await new Promise((resolve) => setImmediate(resolve));
      logger.warn('continued from upstream');
    });

    expect(lines[0]).toMatchObject({
      level: 'warn',
      trace_id: remote.traceId,
      span_id: remote.spanId,
      trace_flags: '00',
    });
  });

  it('ignores an invalid span context', () => {
    const { lines, destination } = captureLogLines();
    const logger = createLogger({ service: 'drip', destination });
    const invalid = { traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: TraceFlags.NONE };

    context.with(trace.setSpanContext(context.active(), invalid), () => logger.info('invalid'));

    expect(lines[0]).not.toHaveProperty('trace_id');
  });

  it('respects the level and redacts credentials', () => {
    const { lines, destination } = captureLogLines();
    const logger = createLogger({ service: 'email', level: 'warn', destination });

    logger.info('dropped');
    logger.warn({ req: { headers: { authorization: 'Bearer abc' } }, smtp: { password: 'pw' } }, 'kept');

    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      msg: 'kept',
      req: { headers: { authorization: '[redacted]' } },
      smtp: { password: '[redacted]' },
    });
  });
});
