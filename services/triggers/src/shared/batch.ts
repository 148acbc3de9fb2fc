// Pure: a batch is split into what is accepted and what is rejected, by index; nothing is dropped.
import type { FieldError } from '@cmis/platform';
import type { ParseResult } from './fact';

export interface RejectedItem {
  /** Position of the item in the request's `batch` array. */
  index: number;
  errors: FieldError[];
}

export interface SplitBatch<T> {
  accepted: Array<{ index: number; value: T }>;
  rejected: RejectedItem[];
}

export function splitBatch<T>(
  items: readonly unknown[],
  parseItem: (item: unknown, index: number) => ParseResult<T>,
): SplitBatch<T> {
  const accepted: SplitBatch<T>['accepted'] = [];
  const rejected: RejectedItem[] = [];
  items.forEach((item, index) => {
    const result = parseItem(item, index);
    if (result.ok) accepted.push({ index, value: result.value });
    else rejected.push({ index, errors: result.errors });
  });
  return { accepted, rejected };
}

/** Items a request carries for its rate limits: its `batch` array's length, else one. */
export function itemCount(body: unknown): number {
  const batch = (body as { batch?: unknown } | undefined)?.batch;
  return Array.isArray(batch) ? batch.length : 1;
}
