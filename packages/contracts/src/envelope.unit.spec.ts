import { ZodError } from 'zod';
import { causedBy, createEnvelope, EventEnvelope } from './envelope';
import { newEventId } from './event-id';
import { traceContextOf, TRACEPARENT_HEADER, TRACESTATE_HEADER, withTraceContext } from './trace-context';

function issuePaths(build: () => unknown): string[] {
  try {
    build();
  } catch (error) {
    if (error instanceof ZodError) return error.issues.map((i) => i.path.join('.'));
    throw error;
  }
  throw new Error('expected a ZodError');
}

const orgId = '3f0c4d2e-8a61-4f7b-9c1e-2b7d5a9e4f10';
const input = {
  id: 'evt-1',
  time: '2026-01-02T03:04:05.000Z',
  source: '/cmis/triggers',
  type: 'cmis.triggers.action-tracked',
  subject: 'contact-1',
  orgId,
  schemaVersion: 1,
  data: { event: 'Signed Up' },
};

describe('createEnvelope', () => {
  it('builds a CloudEvents 1.0 envelope that starts its own chain', () => {
    expect(createEnvelope(input)).toEqual({
      ...input,
      specversion: '1.0',
      correlationId: 'evt-1',
      causationId: null,
    });
  });

  it('keeps the chain of the event that caused it', () => {
    const cause = createEnvelope({ ...input, id: 'evt-0', correlationId: 'req-9' });
    const effect = createEnvelope({ ...input, ...causedBy(cause) });
    expect(effect).toMatchObject({ correlationId: 'req-9', causationId: 'evt-0' });
  });

  it.each([
    ['orgId', { orgId: 'not-a-uuid' }],
    ['time', { time: 'yesterday' }],
    ['schemaVersion', { schemaVersion: 0 }],
    ['subject', { subject: '' }],
    ['source', { source: '' }],
  ])('refuses a bad %s', (path, change) => {
    expect(issuePaths(() => createEnvelope({ ...input, ...change }))).toEqual([path]);
  });

  it('accepts times with an offset, as RFC 3339 allows', () => {
    expect(createEnvelope({ ...input, time: '2026-01-02T05:04:05+02:00' }).time).toBe(
      '2026-01-02T05:04:05+02:00',
    );
  });
});

describe('EventEnvelope', () => {
  it('requires specversion 1.0 and a nullable causationId', () => {
    const envelope = createEnvelope(input);
    expect(EventEnvelope.safeParse(envelope).success).toBe(true);
    expect(EventEnvelope.safeParse({ ...envelope, specversion: '0.3' }).success).toBe(false);
    expect(EventEnvelope.safeParse({ ...envelope, causationId: undefined }).success).toBe(false);
  });
});

describe('newEventId', () => {
  it('gives a fresh uuid each time', () => {
    const [a, b] = [newEventId(), newEventId()];
    expect(a).toMatch(/^[0-9a-f-]{36}$/);
    expect(a).not.toBe(b);
  });
});

describe('trace context headers', () => {
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

  it('puts traceparent and tracestate on a copy of the headers', () => {
    const headers = { 'content-type': 'application/cloudevents+json' };
    const traced = withTraceContext(headers, { traceparent, tracestate: 'vendor=1' });
    expect(traced).toEqual({
      ...headers,
      [TRACEPARENT_HEADER]: traceparent,
      [TRACESTATE_HEADER]: 'vendor=1',
    });
    expect(headers).toEqual({ 'content-type': 'application/cloudevents+json' });
    expect(withTraceContext(traced, { traceparent })).not.toHaveProperty(TRACESTATE_HEADER);
  });

  it('reads them back from consumed headers (Buffers)', () => {
    const headers = { traceparent: Buffer.from(traceparent), tracestate: [Buffer.from('vendor=1')] };
    expect(traceContextOf(headers)).toEqual({ traceparent, tracestate: 'vendor=1' });
  });

  it('ignores an absent or malformed traceparent', () => {
    expect(traceContextOf({})).toBeUndefined();
    expect(traceContextOf(undefined)).toBeUndefined();
    expect(traceContextOf({ traceparent: 'garbage' })).toBeUndefined();
    expect(traceContextOf({ traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01` })).toBeUndefined();
  });
});
