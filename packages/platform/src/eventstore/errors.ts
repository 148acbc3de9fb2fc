import type { ExpectedVersion, StreamRef } from './types';

/** The stream moved on since it was loaded: another writer appended first. Reload and decide again. */
export class ConcurrencyError extends Error {
  override readonly name = 'ConcurrencyError';
  constructor(
    readonly stream: StreamRef,
    readonly expected: ExpectedVersion,
    readonly actual: number,
  ) {
    super(`${stream.streamType} ${stream.streamId} is at version ${actual}, expected ${String(expected)}`);
  }
}

/** An event with this id is already stored (ids are unique across streams). */
export class DuplicateEventError extends Error {
  override readonly name = 'DuplicateEventError';
  constructor(readonly detail: string) {
    super(`event already stored: ${detail}`);
  }
}

/** The append request is malformed; nothing was written. */
export class InvalidAppendError extends Error {
  override readonly name = 'InvalidAppendError';
  constructor(readonly issues: string[]) {
    super(`invalid append: ${issues.join('; ')}`);
  }
}
