import { createRecentAppends, type PublishableEvent } from './recent';

const event = (eventId: string): PublishableEvent => ({
  orgId: 'org',
  streamId: 'stream',
  eventId,
  type: 'cmis.rules.rule-fired',
  data: {},
  topic: 'cmis.rules.rule-events.v1',
  key: 'org:subject',
  time: '2026-01-01T00:00:00.000Z',
});

describe('recent appends', () => {
  it('keeps what was added until the relay forgets it', () => {
    const recent = createRecentAppends(10);
    recent.add('1', event('a'));
    recent.add('2', event('b'));
    expect(recent.get('1')?.eventId).toBe('a');
    recent.forget(['1']);
    expect(recent.get('1')).toBeUndefined();
    expect(recent.get('2')?.eventId).toBe('b');
    expect(recent.size).toBe(1);
  });

  it('holds at most its capacity, dropping the oldest first', () => {
    const recent = createRecentAppends(3);
    for (let p = 1; p <= 5; p++) recent.add(String(p), event(`e${p}`));
    expect(recent.size).toBe(3);
    expect([1, 2, 3, 4, 5].map((p) => recent.get(String(p))?.eventId)).toEqual([
      undefined,
      undefined,
      'e3',
      'e4',
      'e5',
    ]);
  });

  it('tells positions apart however long they are', () => {
    const recent = createRecentAppends(10);
    recent.add('9007199254740993', event('long'));
    recent.add('9007199254740992', event('longer by one less'));
    recent.add('10', event('short'));
    expect(recent.get('9007199254740993')?.eventId).toBe('long');
    expect(recent.get('9007199254740992')?.eventId).toBe('longer by one less');
    expect(recent.get('1')).toBeUndefined();
    expect(recent.get('10')?.eventId).toBe('short');
  });

  it('counts forgotten entries out of its capacity', () => {
    const recent = createRecentAppends(2);
    recent.add('1', event('a'));
    recent.add('2', event('b'));
    recent.forget(['1', '2']);
    recent.add('3', event('c'));
    recent.add('4', event('d'));
    expect(recent.size).toBe(2);
    expect(recent.get('3')?.eventId).toBe('c');
  });
});
