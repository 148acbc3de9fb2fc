import { randomUUID } from 'node:crypto';
import type { RedisHelpers } from './types';

/**
 * The behaviours both implementations owe. `peer()` returns a new helpers instance on the same
 * prefix: for Redis a separate connection (another process, as far as Redis can tell), for memory
 * another instance sharing the process's state. Each test uses fresh keys, so nothing is cleaned up.
 */
export function redisHelpersContract(peer: () => RedisHelpers): void {
  const opened: RedisHelpers[] = [];
  const open = () => {
    const helpers = peer();
    opened.push(helpers);
    return helpers;
  };
  afterAll(() => Promise.all(opened.map((helpers) => helpers.quit())));
  const key = (label: string) => `${label}-${randomUUID()}`;

  describe('RateLimiter', () => {
    it('allows up to the points in a window, then refuses with the time to wait', async () => {
      const limiter = open().rateLimiter({ name: key('ingest'), points: 3, durationSeconds: 60 });
      const source = key('source');

      const decisions = [];
      for (let i = 0; i < 4; i++) decisions.push(await limiter.consume(source));

      expect(decisions.slice(0, 3)).toEqual([
        { allowed: true, remaining: 2, retryAfterMs: 0 },
        { allowed: true, remaining: 1, retryAfterMs: 0 },
        { allowed: true, remaining: 0, retryAfterMs: 0 },
      ]);
      expect(decisions[3]).toMatchObject({ allowed: false, remaining: 0 });
      expect(decisions[3]?.retryAfterMs).toBeGreaterThan(55_000);
      expect(decisions[3]?.retryAfterMs).toBeLessThanOrEqual(60_000);
    });

    it('spends several points at once and refuses what would overdraw', async () => {
      const limiter = open().rateLimiter({ name: key('send'), points: 10, durationSeconds: 60 });
      const org = key('org');

      expect(await limiter.consume(org, 7)).toMatchObject({ allowed: true, remaining: 3 });
      expect(await limiter.consume(org, 4)).toMatchObject({ allowed: false, remaining: 0 });
    });

    it('keeps keys and limiter names apart', async () => {
      const helpers = open();
      const name = key('ingest');
      const first = helpers.rateLimiter({ name, points: 1, durationSeconds: 60 });
      const otherName = helpers.rateLimiter({ name: key('other'), points: 1, durationSeconds: 60 });
      const source = key('source');

      expect((await first.consume(source)).allowed).toBe(true);
      expect((await first.consume(key('another-source'))).allowed).toBe(true);
      expect((await otherName.consume(source)).allowed).toBe(true);
      expect((await first.consume(source)).allowed).toBe(false);
    });

    it('shares one budget between peers', async () => {
      const name = key('ingest');
      const here = open().rateLimiter({ name, points: 2, durationSeconds: 60 });
      const there = open().rateLimiter({ name, points: 2, durationSeconds: 60 });
      const source = key('source');

      expect((await here.consume(source)).allowed).toBe(true);
      expect((await there.consume(source)).allowed).toBe(true);
      expect((await here.consume(source)).allowed).toBe(false);
    });

    it('grants points again once the window has passed', async () => {
      const limiter = open().rateLimiter({ name: key('ingest'), points: 1, durationSeconds: 1 });
      const source = key('source');
      await limiter.consume(source);
      const refused = await limiter.consume(source);
      expect(refused.allowed).toBe(false);

      await sleep(refused.retryAfterMs + 50);

      expect(await limiter.consume(source)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 });
    });

    it('refuses nonsense settings and arguments', async () => {
      const helpers = open();
      expect(() => helpers.rateLimiter({ name: 'x', points: 0, durationSeconds: 1 })).toThrow(RangeError);
      expect(() => helpers.rateLimiter({ name: 'x', points: 1, durationSeconds: 0.5 })).toThrow(RangeError);
      const limiter = helpers.rateLimiter({ name: key('x'), points: 1, durationSeconds: 1 });
      await expect(limiter.consume('k', 0)).rejects.toThrow(RangeError);
      await expect(limiter.consume('')).rejects.toThrow(RangeError);
    });
  });

  describe('Admission', () => {
    const limits = (name: string) => [
      { name: `${name}-source`, points: 3, durationSeconds: 60 },
      { name: `${name}-org`, points: 5, durationSeconds: 60 },
    ];

    it('spends every limit and claims each key once, across peers', async () => {
      const name = key('ingest');
      const here = open().admission({ limits: limits(name), claimTtlMs: 60_000 });
      const there = open().admission({ limits: limits(name), claimTtlMs: 60_000 });
      const [source, org, first, second] = [key('source'), key('org'), key('m'), key('m')];

      expect(await here.admit({ limitKeys: [source, org], points: 1, claimKeys: [first, second] })).toEqual({
        allowed: true,
        claimed: [true, true],
        pending: [false, false],
      });
      expect(
        await there.admit({ limitKeys: [source, org], points: 1, claimKeys: [second, key('m')] }),
      ).toEqual({ allowed: true, claimed: [false, true], pending: [false, false] });
      expect(await here.admit({ limitKeys: [source, org], points: 1, claimKeys: [] })).toEqual({
        allowed: true,
        claimed: [],
        pending: [],
      });
      // Four points spent of the source's three: refused, by the first limit.
      const refused = await here.admit({ limitKeys: [source, org], points: 1, claimKeys: [] });
      expect(refused).toMatchObject({ allowed: false, refusedBy: 0 });
      expect(refused.allowed === false && refused.retryAfterMs).toBeGreaterThan(55_000);
    });

    it('takes no claim when a limit refuses, and the refused attempt still counts', async () => {
      const name = key('ingest');
      const admission = open().admission({ limits: limits(name), claimTtlMs: 60_000 });
      const org = key('org');
      const claim = key('m');

      expect(
        await admission.admit({ limitKeys: [key('source'), org], points: 6, claimKeys: [claim] }),
      ).toMatchObject({ allowed: false, refusedBy: 0 });
      // The org's window holds those 6 of 5 points too: the org refuses a fresh source.
      expect(
        await admission.admit({ limitKeys: [key('source'), org], points: 1, claimKeys: [claim] }),
      ).toMatchObject({ allowed: false, refusedBy: 1 });
      expect(
        await admission.admit({ limitKeys: [key('source'), key('org')], points: 1, claimKeys: [claim] }),
      ).toEqual({ allowed: true, claimed: [true], pending: [false] });
    });

    it('shares budgets with rate limiters and claims with cooldown locks of the same names', async () => {
      const helpers = open();
      const [sourceLimit, orgLimit] = limits(key('ingest'));
      const admission = open().admission({ limits: [sourceLimit!, orgLimit!], claimTtlMs: 60_000 });
      const [source, org, held] = [key('source'), key('org'), key('m')];
      await helpers.rateLimiter(sourceLimit!).consume(source, 3);
      await helpers.cooldownLocks().tryAcquire(held, 60_000);

      expect(
        await admission.admit({ limitKeys: [key('source'), org], points: 1, claimKeys: [held] }),
      ).toEqual({
        allowed: true,
        claimed: [false],
        pending: [false],
      });
      expect(await admission.admit({ limitKeys: [source, org], points: 1, claimKeys: [] })).toMatchObject({
        allowed: false,
        refusedBy: 0,
      });
      expect(await helpers.rateLimiter(orgLimit!).consume(org, 1)).toMatchObject({
        allowed: true,
        remaining: 2,
      });
    });

    it('release gives back only its own claims; claims lapse after their TTL', async () => {
      const name = key('ingest');
      const here = open().admission({ limits: limits(name), claimTtlMs: 150 });
      const there = open().admission({ limits: limits(name), claimTtlMs: 150 });
      const admit = (admission: typeof here, claimKeys: string[]) =>
        admission.admit({ limitKeys: [key('source'), key('org')], points: 1, claimKeys });
      const [mine, theirs] = [key('m'), key('m')];
      await admit(here, [mine]);
      await admit(there, [theirs]);

      await here.release([mine, theirs]);

      expect(await admit(there, [mine, theirs])).toEqual({
        allowed: true,
        claimed: [true, false],
        pending: [false, false],
      });
      await sleep(200);
      expect(await admit(here, [mine, theirs])).toEqual({
        allowed: true,
        claimed: [true, true],
        pending: [false, false],
      });
    });

    it('a pending claim says so to a retry, lapses by itself, and once confirmed is done for claimTtlMs', async () => {
      const name = key('ingest');
      const options = { limits: limits(name), claimTtlMs: 60_000, pendingTtlMs: 150 };
      const here = open().admission(options);
      const there = open().admission(options);
      const admit = (admission: typeof here, claimKeys: string[]) =>
        admission.admit({ limitKeys: [key('source'), key('org')], points: 1, claimKeys });
      const [crashed, stored] = [key('m'), key('m')];

      expect(await admit(here, [crashed, stored])).toEqual({
        allowed: true,
        claimed: [true, true],
        pending: [false, false],
      });
      // While the first publish is under way, a retry learns the claims are pending, not done.
      expect(await admit(there, [crashed, stored])).toEqual({
        allowed: true,
        claimed: [false, false],
        pending: [true, true],
      });
      await here.confirm([stored]); // acked; `crashed` is never confirmed (its process died)
      expect(await admit(there, [crashed, stored])).toEqual({
        allowed: true,
        claimed: [false, false],
        pending: [true, false],
      });
      await sleep(200);
      // The pending claim lapsed within pendingTtlMs; the done one holds for claimTtlMs.
      expect(await admit(there, [crashed, stored])).toEqual({
        allowed: true,
        claimed: [true, false],
        pending: [false, false],
      });
      expect(await there.release([crashed, stored])).toBe(1);
    });

    it('claim takes claims without spending a limit, and reports pending and done ones as admit does', async () => {
      const name = key('ingest');
      const options = {
        limits: [{ name: `${name}-source`, points: 1, durationSeconds: 60 }, limits(name)[1]!],
        claimTtlMs: 60_000,
        pendingTtlMs: 60_000,
      };
      const here = open().admission(options);
      const there = open().admission(options);
      const [source, org] = [key('source'), key('org')];
      const [pending, done, free] = [key('m'), key('m'), key('m')];
      expect(
        await here.admit({ limitKeys: [source, org], points: 1, claimKeys: [pending, done] }),
      ).toMatchObject({
        allowed: true,
      });
      await here.confirm([done]);
      // The source's one point is spent: admit refuses, claim still answers (and spends nothing).
      expect(await there.admit({ limitKeys: [source, org], points: 1, claimKeys: [] })).toMatchObject({
        allowed: false,
        refusedBy: 0,
      });
      expect(await there.claim([pending, done, free])).toEqual({
        claimed: [false, false, true],
        pending: [true, false, false],
      });
      expect(await here.claim([free])).toEqual({ claimed: [false], pending: [true] });
      expect(await here.release([pending])).toBe(1);
      expect(await there.claim([pending])).toEqual({ claimed: [true], pending: [false] });
      expect(await there.claim([])).toEqual({ claimed: [], pending: [] });
    });

    it('refuses nonsense settings and arguments', async () => {
      const helpers = open();
      expect(() => helpers.admission({ limits: limits(key('x')), claimTtlMs: 0 })).toThrow(RangeError);
      expect(() =>
        helpers.admission({ limits: [{ name: 'x', points: 0, durationSeconds: 1 }], claimTtlMs: 1_000 }),
      ).toThrow(RangeError);
      const admission = helpers.admission({ limits: limits(key('x')), claimTtlMs: 1_000 });
      await expect(admission.admit({ limitKeys: ['s'], points: 1, claimKeys: [] })).rejects.toThrow(
        RangeError,
      );
      await expect(admission.admit({ limitKeys: ['s', 'o'], points: 0, claimKeys: [] })).rejects.toThrow(
        RangeError,
      );
      await expect(admission.admit({ limitKeys: ['s', 'o'], points: 1, claimKeys: [''] })).rejects.toThrow(
        RangeError,
      );
    });
  });

  describe('CooldownLocks', () => {
    it('lets one holder in until the TTL lapses, across peers', async () => {
      const here = open().cooldownLocks();
      const there = open().cooldownLocks();
      const cooldown = key('rule-contact');

      expect(await here.tryAcquire(cooldown, 150)).toBe(true);
      expect(await here.tryAcquire(cooldown, 150)).toBe(false);
      expect(await there.tryAcquire(cooldown, 150)).toBe(false);
      expect(await there.tryAcquire(key('other'), 150)).toBe(true);

      await sleep(200);

      expect(await there.tryAcquire(cooldown, 150)).toBe(true);
    });

    it('release frees the key only for its holder', async () => {
      const here = open().cooldownLocks();
      const there = open().cooldownLocks();
      const cooldown = key('rule-contact');
      await here.tryAcquire(cooldown, 60_000);

      expect(await there.release(cooldown)).toBe(false);
      expect(await there.tryAcquire(cooldown, 60_000)).toBe(false);
      expect(await here.release(cooldown)).toBe(true);
      expect(await there.tryAcquire(cooldown, 60_000)).toBe(true);
      expect(await here.release(cooldown)).toBe(false);
    });

    it('a holder whose TTL lapsed cannot release the next holder', async () => {
      const here = open().cooldownLocks();
      const there = open().cooldownLocks();
      const cooldown = key('rule-contact');
      await here.tryAcquire(cooldown, 50);
      await sleep(100);
      await there.tryAcquire(cooldown, 60_000);

      expect(await here.release(cooldown)).toBe(false);
      expect(await here.tryAcquire(cooldown, 60_000)).toBe(false);
    });

    it("a claim made for a holder is its own on a retry, in any process, and no one else's", async () => {
      const here = open().cooldownLocks();
      const there = open().cooldownLocks();
      const cooldown = key('rule-contact');

      expect(await here.tryAcquire(cooldown, 60_000, 'firing-1')).toBe(true);
      // The transaction that claimed rolled back; its retry (maybe on another replica) claims again.
      expect(await there.tryAcquire(cooldown, 60_000, 'firing-1')).toBe(true);
      expect(await here.tryAcquire(cooldown, 60_000, 'firing-2')).toBe(false);
      expect(await here.tryAcquire(cooldown, 60_000)).toBe(false);
      expect(await there.release(cooldown)).toBe(false); // the instance is not the holder
      expect(await there.release(cooldown, 'firing-1')).toBe(true);
      expect(await here.tryAcquire(cooldown, 60_000, 'firing-2')).toBe(true);
    });

    it('counts an execution with an id once, however often it is recorded, and lets it expire', async () => {
      const here = open().cooldownLocks();
      const there = open().cooldownLocks();
      const rule = key('rule');
      const windowMs = 300;

      expect(await here.tryIncrementInWindow(rule, windowMs, 2, 'firing-1')).toEqual({
        allowed: true,
        count: 1,
      });
      expect(await there.tryIncrementInWindow(rule, windowMs, 2, 'firing-1')).toEqual({
        allowed: true,
        count: 1,
      });
      expect(await there.tryIncrementInWindow(rule, windowMs, 2, 'firing-2')).toEqual({
        allowed: true,
        count: 2,
      });
      // At the maximum, a retry of a counted execution still passes; a new one does not.
      expect(await here.tryIncrementInWindow(rule, windowMs, 2, 'firing-2')).toEqual({
        allowed: true,
        count: 2,
      });
      expect(await here.tryIncrementInWindow(rule, windowMs, 2, 'firing-3')).toEqual({
        allowed: false,
        count: 2,
      });
      await sleep(400);
      expect(await here.countInWindow(rule, windowMs)).toBe(0);
      expect(await here.tryIncrementInWindow(rule, windowMs, 2, 'firing-3')).toEqual({
        allowed: true,
        count: 1,
      });
    });

    it('counts executions within the window, shared between peers', async () => {
      const here = open().cooldownLocks();
      const there = open().cooldownLocks();
      const rule = key('rule');
      const hour = 3_600_000;

      expect(await here.countInWindow(rule, hour)).toBe(0);
      expect(await here.incrementInWindow(rule, hour)).toBe(1);
      expect(await there.incrementInWindow(rule, hour)).toBe(2);
      expect(await here.incrementInWindow(rule, hour)).toBe(3);
      expect(await there.countInWindow(rule, hour)).toBe(3);
      expect(await there.countInWindow(key('other-rule'), hour)).toBe(0);
    });

    it('slides: each execution leaves the count windowMs after it happened', async () => {
      const locks = open().cooldownLocks();
      const rule = key('rule');
      const windowMs = 300;

      await locks.incrementInWindow(rule, windowMs);
      await sleep(150);
      await locks.incrementInWindow(rule, windowMs);
      expect(await locks.countInWindow(rule, windowMs)).toBe(2);

      await sleep(200); // the first has left the window, the second has not

      expect(await locks.countInWindow(rule, windowMs)).toBe(1);
      await sleep(150);
      expect(await locks.countInWindow(rule, windowMs)).toBe(0);
    });

    it('tryIncrementInWindow never lets concurrent peers overshoot the maximum', async () => {
      const here = open().cooldownLocks();
      const there = open().cooldownLocks();
      const rule = key('rule');

      const attempts = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          (i % 2 === 0 ? here : there).tryIncrementInWindow(rule, 60_000, 5),
        ),
      );

      expect(attempts.filter((attempt) => attempt.allowed)).toHaveLength(5);
      expect(attempts.filter((attempt) => !attempt.allowed).every((attempt) => attempt.count === 5)).toBe(
        true,
      );
      expect(await here.countInWindow(rule, 60_000)).toBe(5);
    });

    it('refuses nonsense durations and keys', async () => {
      const locks = open().cooldownLocks();
      await expect(locks.tryAcquire(key('k'), 0)).rejects.toThrow(RangeError);
      await expect(locks.countInWindow(key('k'), -1)).rejects.toThrow(RangeError);
      await expect(locks.tryIncrementInWindow(key('k'), 1_000, -1)).rejects.toThrow(RangeError);
      await expect(locks.tryAcquire('', 1_000)).rejects.toThrow(RangeError);
    });
  });

  describe('InvalidatingCache', () => {
    /** A loader over a mutable record, counting its loads. */
    function source<T>(initial: Record<string, T>) {
      const values = { ...initial };
      const loads: string[] = [];
      return {
        values,
        loads,
        loader: async (cacheKey: string) => {
          loads.push(cacheKey);
          const value = values[cacheKey];
          if (value === undefined) throw new Error(`no value for ${cacheKey}`);
          return value;
        },
      };
    }

    it('loads once and serves from memory after', async () => {
      const data = source({ a: 1 });
      const cache = open().invalidatingCache({ name: key('keys'), loader: data.loader });

      expect(await cache.get('a')).toBe(1);
      data.values.a = 2;
      expect(await cache.get('a')).toBe(1);
      expect(data.loads).toEqual(['a']);
    });

    it('shares one load between concurrent gets', async () => {
      const data = source({ a: 1 });
      const cache = open().invalidatingCache({ name: key('keys'), loader: data.loader });

      expect(await Promise.all([cache.get('a'), cache.get('a'), cache.get('a')])).toEqual([1, 1, 1]);
      expect(data.loads).toEqual(['a']);
    });

    it('invalidate drops the key locally and leaves other keys', async () => {
      const data = source({ a: 1, b: 10 });
      const cache = open().invalidatingCache({ name: key('keys'), loader: data.loader });
      await cache.get('a');
      await cache.get('b');
      data.values.a = 2;
      data.values.b = 20;

      await cache.invalidate('a');

      expect(await cache.get('a')).toBe(2);
      expect(await cache.get('b')).toBe(10);
    });

    it("drops the key from a peer's cache of the same name, within milliseconds", async () => {
      const name = key('api-keys');
      const data = source({ a: 'v1', b: 'b1' });
      const here = open().invalidatingCache({ name, loader: data.loader });
      const there = open().invalidatingCache({ name, loader: data.loader });
      const unrelated = open().invalidatingCache({ name: key('other'), loader: data.loader });
      await Promise.all([here.get('a'), here.get('b'), unrelated.get('a')]);
      data.values.a = 'v2';
      data.values.b = 'b2';

      const invalidatedAt = Date.now();
      await there.invalidate('a');

      await eventually(async () => expect(await here.get('a')).toBe('v2'));
      expect(Date.now() - invalidatedAt).toBeLessThan(500);
      expect(await here.get('b')).toBe('b1');
      expect(await unrelated.get('a')).toBe('v1');
    });

    it('does not cache a failed load', async () => {
      const data = source<number>({});
      const cache = open().invalidatingCache({ name: key('keys'), loader: data.loader });

      await expect(cache.get('a')).rejects.toThrow('no value for a');
      data.values.a = 1;
      expect(await cache.get('a')).toBe(1);
    });

    it('does not keep a value whose load was in flight when the key was invalidated', async () => {
      let finishLoad: (value: string) => void = () => undefined;
      let loads = 0;
      const cache = open().invalidatingCache({
        name: key('keys'),
        loader: (cacheKey) => {
          loads += 1;
          if (loads === 1) return new Promise<string>((resolve) => (finishLoad = resolve));
          return Promise.resolve(`${cacheKey}-fresh`);
        },
      });

      const inFlight = cache.get('a');
      await eventually(async () => expect(loads).toBe(1));
      await cache.invalidate('a');
      finishLoad('a-stale');

      expect(await inFlight).toBe('a-stale');
      expect(await cache.get('a')).toBe('a-fresh');
    });

    it('reloads after ttlMs as a backstop, and evicts beyond maxEntries', async () => {
      const data = source({ a: 1, b: 2, c: 3 });
      const cache = open().invalidatingCache({
        name: key('keys'),
        loader: data.loader,
        ttlMs: 100,
        maxEntries: 2,
      });
      await cache.get('a');
      await cache.get('b');
      await cache.get('a'); // a is now the most recently used
      await cache.get('c'); // evicts b
      await cache.get('a');
      expect(data.loads).toEqual(['a', 'b', 'c']);
      await cache.get('b');
      expect(data.loads).toEqual(['a', 'b', 'c', 'b']);

      await sleep(150);
      await cache.get('a');

      expect(data.loads).toEqual(['a', 'b', 'c', 'b', 'a']);
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Retries an assertion until it passes or the deadline passes (then throws its last failure). */
export async function eventually(assertion: () => Promise<void>, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await assertion();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(5);
    }
  }
}
