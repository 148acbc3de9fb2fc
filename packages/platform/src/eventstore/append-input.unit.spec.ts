import { InvalidAppendError } from './errors';
import { isPlainAppend, plainJsonCopy, prepareAppend } from './append-input';
import { AppendRequest } from './types';

const orgId = '0b9e6d1c-4c1f-4f6e-9d1a-2f6e5c3b1a00';
const event = {
  id: '5f0c2d1e-8b7a-4c3d-9e2f-1a0b9c8d7e6f',
  type: 'cmis.rules.action-requested',
  data: {
    ruleId: 'r-1',
    ruleVersion: 1,
    actionId: 'a-1',
    action: { kind: 'pause_campaign', campaignId: 'c-1' },
  },
  metadata: { correlationId: 'corr', causationId: 'cause' },
  topic: 'cmis.rules.actions.v1',
  occurredAt: new Date('2026-01-01T00:00:00.000Z'),
};
const request = {
  orgId,
  streamType: 'rule-firings',
  streamId: 'lane#0',
  expectedVersion: 'any',
  events: [event],
};

const REMOVED = Symbol('removed');

/** A fresh copy of the request with `path` (dot separated; numbers index arrays) set to `value`. */
function variant(path: string, value: unknown): unknown {
  const copy = {
    ...request,
    events: [{ ...event, data: { ...event.data }, metadata: { ...event.metadata } }],
  } as Record<string, unknown>;
  const keys = path.split('.');
  let node = copy;
  for (const key of keys.slice(0, -1)) node = node[key] as Record<string, unknown>;
  if (value === REMOVED) delete node[keys.at(-1)!];
  else node[keys.at(-1)!] = value;
  return copy;
}

// Values that break (or nearly break) every rule of AppendRequest, by field.
const variants: Array<[string, unknown]> = [
  ['orgId', 'not-a-uuid'],
  ['orgId', orgId.toUpperCase()],
  ['orgId', `${orgId} `],
  ['orgId', 42],
  ['orgId', REMOVED],
  ['streamType', ''],
  ['streamType', 'x'.repeat(100)],
  ['streamType', 'x'.repeat(101)],
  ['streamId', 'x'.repeat(200)],
  ['streamId', 'x'.repeat(201)],
  ['streamId', null],
  ['expectedVersion', 0],
  ['expectedVersion', 7],
  ['expectedVersion', -1],
  ['expectedVersion', 1.5],
  ['expectedVersion', Number.NaN],
  ['expectedVersion', Number.POSITIVE_INFINITY],
  ['expectedVersion', 'no_stream'],
  ['expectedVersion', 'latest'],
  ['expectedVersion', REMOVED],
  ['events', []],
  ['events', 'many'],
  ['events.0', null],
  ['events.0', new Date()],
  ['events.0.id', 'nope'],
  ['events.0.type', ''],
  ['events.0.type', 't'.repeat(200)],
  ['events.0.type', 't'.repeat(201)],
  ['events.0.data', REMOVED],
  ['events.0.topic', ''],
  ['events.0.topic', 't'.repeat(249)],
  ['events.0.topic', 't'.repeat(250)],
  ['events.0.topic', REMOVED],
  ['events.0.key', ''],
  ['events.0.key', 'org:subject'],
  ['events.0.key', 7],
  ['events.0.occurredAt', '2026-01-01T00:00:00.000Z'],
  ['events.0.occurredAt', new Date(Number.NaN)],
  ['events.0.occurredAt', REMOVED],
  ['events.0.metadata', null],
  ['events.0.metadata', []],
  ['events.0.metadata', {}],
  ['events.0.metadata.correlationId', ''],
  ['events.0.metadata.correlationId', 5],
  ['events.0.metadata.causationId', ''],
  ['events.0.metadata.actor', ''],
  ['events.0.metadata.actor', 'user:7'],
  ['events.0.metadata.traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
  ['events.0.metadata.traceparent', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01'],
  ['events.0.metadata.traceparent', 'nope'],
  ['events.0.metadata.tracestate', ''],
  ['events.0.metadata.tracestate', 3],
  ['events.0.metadata.extra', { any: 'thing' }],
  ['events.0.extra', 'dropped'],
  ['extra', 'dropped'],
];

describe('append input', () => {
  it.each(variants)('accepts %s = %p only where zod accepts it', (path, value) => {
    const candidate = variant(path, value);
    if (isPlainAppend(candidate)) expect(AppendRequest.safeParse(candidate).success).toBe(true);
  });

  it('takes the ordinary request without zod, and leaves the rest to zod', () => {
    expect(isPlainAppend(request)).toBe(true);
    // Every variant zod accepts is taken as it is (the check is not merely stricter than zod).
    for (const [path, value] of variants) {
      const candidate = variant(path, value);
      expect([path, value, isPlainAppend(candidate)]).toEqual([
        path,
        value,
        AppendRequest.safeParse(candidate).success,
      ]);
    }
    expect(
      isPlainAppend(variant('events.0.metadata', Object.assign(Object.create({ x: 1 }) as object, {}))),
    ).toBe(false);
  });

  it('refuses what zod refuses, naming the field', () => {
    expect(() => prepareAppend(variant('events.0.id', 'nope') as AppendRequest)).toThrow(
      new InvalidAppendError(['events.0.id: Invalid uuid']),
    );
  });

  it('refuses text Postgres cannot store, naming the field, in catalog and private payloads and metadata', () => {
    const refused = (req: unknown, path: string) => {
      expect(() => prepareAppend(req as AppendRequest)).toThrow(InvalidAppendError);
      expect(() => prepareAppend(req as AppendRequest)).toThrow(`${path}: holds a NUL character`);
    };
    refused(variant('events.0.data.ruleId', 'r\u0000'), 'events.0.data.ruleId');
    refused(variant('events.0.data.actionId', 'a\ud800'), 'events.0.data.actionId');
    refused(variant('events.0.metadata.correlationId', '\udfff'), 'events.0.metadata.correlationId');
    const privateEvent = { ...event, topic: undefined, data: { notes: ['fine', { ['k\u0000']: 1 }] } };
    refused({ ...request, events: [privateEvent] }, 'events.0.data.notes.1.k\u0000');
    // A backslash followed by "u0000" is ordinary text, and a surrogate pair is one character.
    expect(() =>
      prepareAppend(variant('events.0.data.ruleId', '\\u0000 \ud83d\ude80') as AppendRequest),
    ).not.toThrow();
  });

  it('stores a catalog payload as its schema has it, once serialized, and keeps that copy for the relay', () => {
    const data = { ...event.data, action: { ...event.data.action, note: 'dropped' }, extra: 'dropped' };
    const [prepared] = prepareAppend({ ...request, events: [{ ...event, data }] } as AppendRequest).events;
    expect(JSON.parse(prepared!.dataJson)).toEqual(event.data);
    expect(prepared!.publishable?.data).toEqual(event.data);
    expect(prepared!.publishable?.data).not.toBe(data);
    expect(data.action.note).toBe('dropped'); // the caller's object is left as it was
    expect(prepared).toMatchObject({
      key: `${orgId}:lane#0`,
      occurredAt: '2026-01-01T00:00:00.000Z',
      publishable: {
        orgId,
        streamId: 'lane#0',
        eventId: event.id,
        type: event.type,
        topic: event.topic,
        key: `${orgId}:lane#0`,
        time: '2026-01-01T00:00:00.000Z',
        correlationId: 'corr',
        causationId: 'cause',
      },
    });
  });

  it('keeps nothing for the relay from a request only zod could judge', () => {
    const odd = { ...request, events: [{ ...event, occurredAt: new (class extends Date {})(0) }] };
    const [prepared] = prepareAppend(odd as AppendRequest).events;
    expect(prepared!.publishable).toBeUndefined();
    expect(JSON.parse(prepared!.dataJson)).toEqual(event.data);
  });
});

describe('plainJsonCopy', () => {
  it.each([
    ['an object', { a: 1, b: 'x', c: [true, null, { d: -0 }], 2: 'two', 1: 'one' }],
    ['minus zero', -0],
    ['undefined members left out', { a: undefined, b: 1 }],
    ['a string', 'é ✓ \ud800'],
    ['null', null],
    ['a null-prototype object', Object.assign(Object.create(null) as object, { a: 1 })],
  ])('copies %s as JSON would', (_what, value) => {
    const copy = plainJsonCopy(value);
    expect(JSON.stringify(copy)).toBe(JSON.stringify(value));
    expect(copy).toEqual(JSON.parse(JSON.stringify(value)));
    if (value !== null && typeof value === 'object') expect(copy).not.toBe(value);
  });

  it.each([
    ['a Date', { at: new Date(0) }],
    ['a toJSON member', { toJSON: () => 'x' }],
    ['a __proto__ key', JSON.parse('{"__proto__": {"x": 1}}') as unknown],
    ['NaN', { n: Number.NaN }],
    ['a bigint', { n: 1n }],
    ['a hole', new Array<number>(2).fill(1, 0, 1)],
    ['an undefined element', [undefined]],
    ['a class instance', { m: new Map() }],
    ['a function', { f: () => 1 }],
    ['undefined', undefined],
    ['deep nesting', JSON.parse(`${'['.repeat(70)}${']'.repeat(70)}`) as unknown],
  ])('leaves %s to JSON', (_what, value) => {
    expect(plainJsonCopy(value)).toBeUndefined();
  });

  it('gives up on a cycle instead of overflowing the stack', () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(plainJsonCopy(cycle)).toBeUndefined();
  });
});
