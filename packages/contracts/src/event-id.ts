import { randomUUID } from 'node:crypto';

/** A fresh event id. Impure on purpose: call it at the edge and pass the id into pure code. */
export function newEventId(): string {
  return randomUUID();
}
