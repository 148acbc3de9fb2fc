/** Whole milliseconds ≥ 1; Redis PX/PEXPIRE refuse 0 and fractions. */
export function wholeMs(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number of ms`);
  return Math.ceil(value);
}

export function rateLimiterSettings(options: { name: string; points: number; durationSeconds: number }) {
  if (!Number.isInteger(options.points) || options.points < 1) {
    throw new RangeError(`rate limiter ${options.name}: points must be a positive integer`);
  }
  if (!Number.isInteger(options.durationSeconds) || options.durationSeconds < 1) {
    throw new RangeError(`rate limiter ${options.name}: durationSeconds must be a positive integer`);
  }
  return options;
}

/** A key segment must not be empty: `cooldown:` alone would be shared by every caller that forgot the id. */
export function nonEmptyKey(key: string): string {
  if (key === '') throw new RangeError('key must not be empty');
  return key;
}

export function maxCount(max: number): number {
  if (!Number.isInteger(max) || max < 0) throw new RangeError('max must be a non-negative integer');
  return max;
}
