import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import { rateLimiterSettings, wholeMs } from './arguments';
import { limitKey } from './rate-limiters';
import { lockKey } from './redis-cooldown-locks';
import type { Admission, AdmissionOptions, ClaimOutcome } from './types';

// KEYS: the limits' counters, then the claims. ARGV: limit count, points, claim token, claim ttl
// (ms), then per limit its window (s) and its points. Each counter is spent exactly as the rate
// limiter's script does (same keys, so both can run side by side); only when every limit allows
// are the claims taken. Returns {0, refused limit (1-based), ms to wait} or {1, per claim: 1 taken,
// 0 held as done, 2 held while pending (its holder's value starts with "pending:")}.
const ADMIT = `
local limits = tonumber(ARGV[1])
local points = tonumber(ARGV[2])
local refused, wait = 0, 0
for i = 1, limits do
  local window = ARGV[3 + 2 * i]
  redis.call('SET', KEYS[i], 0, 'EX', window, 'NX')
  local spent = redis.call('INCRBY', KEYS[i], points)
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl == -1 then
    redis.call('EXPIRE', KEYS[i], window)
    ttl = 1000 * tonumber(window)
  end
  if refused == 0 and spent > tonumber(ARGV[4 + 2 * i]) then refused, wait = i, ttl end
end
if refused > 0 then return {0, refused, wait} end
local taken = {1}
for i = limits + 1, #KEYS do
  if redis.call('SET', KEYS[i], ARGV[3], 'PX', ARGV[4], 'NX') then
    taken[#taken + 1] = 1
  else
    local holder = redis.call('GET', KEYS[i])
    taken[#taken + 1] = (holder and string.sub(holder, 1, 8) == 'pending:') and 2 or 0
  end
end
return taken`;

const RELEASE_ALL = `
local released = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then released = released + redis.call('DEL', KEYS[i]) end
end
return released`;

// ARGV: the done value, its ttl (ms). Unconditional: the work is done whoever holds the claim now.
const CONFIRM_ALL = `
for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2]) end
return #KEYS`;

/** The value of a claim whose work is done (see Admission.confirm). */
const DONE = 'done';

type Script = (keyCount: number, ...args: Array<string | number>) => Promise<unknown>;

const ADMIT_COMMAND = 'cmisAdmit';
const RELEASE_COMMAND = 'cmisReleaseAll';
const CONFIRM_COMMAND = 'cmisConfirmAll';
/** The names the scripts are defined under on the client (its commands). */
export const ADMISSION_SCRIPTS = [ADMIT_COMMAND, RELEASE_COMMAND, CONFIRM_COMMAND];

/** The scripts as commands of `client` (EVALSHA, loaded on first use), defined once per client. */
function scriptsOf(client: Redis): { admit: Script; release: Script; confirm: Script } {
  const commands = client as unknown as Partial<Record<string, Script>>;
  if (!commands[ADMIT_COMMAND]) {
    client.defineCommand(ADMIT_COMMAND, { lua: ADMIT });
    client.defineCommand(RELEASE_COMMAND, { lua: RELEASE_ALL });
    client.defineCommand(CONFIRM_COMMAND, { lua: CONFIRM_ALL });
  }
  return {
    admit: (...args) => commands[ADMIT_COMMAND]!.apply(client, args),
    release: (...args) => commands[RELEASE_COMMAND]!.apply(client, args),
    confirm: (...args) => commands[CONFIRM_COMMAND]!.apply(client, args),
  };
}

/** The admit script's answer per claim (after its leading 1): taken, or held and whether pending. */
function claimsOf(reply: number[], count: number): ClaimOutcome {
  const claimed = new Array<boolean>(count);
  const pending = new Array<boolean>(count);
  for (let i = 0; i < count; i++) {
    claimed[i] = reply[i + 1] === 1;
    pending[i] = reply[i + 1] === 2;
  }
  return { claimed, pending };
}

/** One Lua script per admission: limits spent and claims taken in a single round trip. */
export function redisAdmission(client: Redis, prefix: string, options: AdmissionOptions): Admission {
  const scripts = scriptsOf(client);
  const limits = options.limits.map(rateLimiterSettings);
  const claimTtl = wholeMs('claimTtlMs', options.claimTtlMs);
  const pendingTtl =
    options.pendingTtlMs === undefined ? undefined : wholeMs('pendingTtlMs', options.pendingTtlMs);
  // One token per instance, as in the cooldown locks: release only deletes our own claims.
  const token = `${pendingTtl === undefined ? '' : 'pending:'}${randomUUID()}`;
  const limitArgs = limits.flatMap((l) => [l.durationSeconds, l.points]);

  return {
    async admit({ limitKeys, points, claimKeys }) {
      if (limitKeys.length !== limits.length) throw new RangeError('one limit key per limit is required');
      if (!Number.isInteger(points) || points < 1) throw new RangeError('points must be a positive integer');
      const keys: string[] = [];
      for (let i = 0; i < limits.length; i++) keys.push(limitKey(prefix, limits[i]!.name, limitKeys[i]!));
      for (const claim of claimKeys) keys.push(lockKey(prefix, claim));
      const reply = (await scripts.admit(
        keys.length,
        ...keys,
        limits.length,
        points,
        token,
        pendingTtl ?? claimTtl,
        ...limitArgs,
      )) as number[];
      if (reply[0] === 0)
        return { allowed: false, refusedBy: reply[1]! - 1, retryAfterMs: Math.max(reply[2]!, 0) };
      return { allowed: true, ...claimsOf(reply, claimKeys.length) };
    },
    async claim(claimKeys) {
      if (claimKeys.length === 0) return { claimed: [], pending: [] };
      // The admit script with no limits: only the claims are taken.
      const keys = claimKeys.map((k) => lockKey(prefix, k));
      const reply = (await scripts.admit(
        keys.length,
        ...keys,
        0,
        1,
        token,
        pendingTtl ?? claimTtl,
      )) as number[];
      return claimsOf(reply, claimKeys.length);
    },
    async release(claimKeys) {
      if (claimKeys.length === 0) return 0;
      return (await scripts.release(
        claimKeys.length,
        ...claimKeys.map((k) => lockKey(prefix, k)),
        token,
      )) as number;
    },
    async confirm(claimKeys) {
      if (claimKeys.length === 0 || pendingTtl === undefined) return;
      await scripts.confirm(claimKeys.length, ...claimKeys.map((k) => lockKey(prefix, k)), DONE, claimTtl);
    },
  };
}
