import { assignRoundRobin, type TopicPartition } from './assignment';

const show = (tps: TopicPartition[] | undefined) => (tps ?? []).map((tp) => `${tp.topic}/${tp.partition}`);

describe('assignRoundRobin', () => {
  it('deals partitions round-robin over the members sorted by id', () => {
    const split = assignRoundRobin(
      [
        { memberId: 'b', topics: ['t'] },
        { memberId: 'a', topics: ['t'] },
      ],
      new Map([['t', 4]]),
    );
    expect(show(split.get('a'))).toEqual(['t/0', 't/2']);
    expect(show(split.get('b'))).toEqual(['t/1', 't/3']);
  });

  it('continues the deal across topics so single-partition topics spread too', () => {
    const members = ['m1', 'm2', 'm3'].map((memberId) => ({ memberId, topics: ['x', 'y', 'z'] }));
    const split = assignRoundRobin(
      members,
      new Map([
        ['x', 1],
        ['y', 1],
        ['z', 1],
      ]),
    );
    expect([...split.values()].map(show)).toEqual([['x/0'], ['y/0'], ['z/0']]);
  });

  it('gives a topic only to members that subscribe to it', () => {
    const split = assignRoundRobin(
      [
        { memberId: 'a', topics: ['t'] },
        { memberId: 'b', topics: ['t', 'u'] },
      ],
      new Map([
        ['t', 2],
        ['u', 3],
      ]),
    );
    expect(show(split.get('a'))).toEqual(['t/0']);
    expect(show(split.get('b'))).toEqual(['t/1', 'u/0', 'u/1', 'u/2']);
  });

  it('is the same whatever order the members are listed in, and covers each partition once', () => {
    const members = Array.from({ length: 5 }, (_, i) => ({ memberId: `m${i}`, topics: ['t', 'u'] }));
    const counts = new Map([
      ['t', 7],
      ['u', 3],
    ]);
    const one = assignRoundRobin(members, counts);
    const other = assignRoundRobin([...members].reverse(), counts);
    expect([...one.entries()].sort()).toEqual([...other.entries()].sort());
    const all = [...one.values()].flatMap(show);
    expect(all.sort()).toEqual([...new Set(all)].sort());
    expect(all).toHaveLength(10);
  });

  it('leaves members without partitions when there are more members than partitions', () => {
    const split = assignRoundRobin(
      ['a', 'b', 'c'].map((memberId) => ({ memberId, topics: ['t'] })),
      new Map([['t', 1]]),
    );
    expect([...split.values()].map(show)).toEqual([['t/0'], [], []]);
  });
});
