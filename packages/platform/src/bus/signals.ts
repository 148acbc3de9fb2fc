/**
 * A wake-up that cannot be missed: a `wake()` that comes after `reset()` but before `wait()`
 * makes that wait return at once. Reset before reading the state the wake is about.
 */
export class Wakeup {
  private pending = false;
  private resolveWait: (() => void) | undefined;

  wake(): void {
    this.pending = true;
    this.resolveWait?.();
  }

  reset(): void {
    this.pending = false;
  }

  /** Resolves on the next wake or after `ms`, whichever is first. */
  wait(ms: number): Promise<void> {
    if (this.pending) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.resolveWait = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.resolveWait = done;
    });
  }
}

/** A counting semaphore with a FIFO queue: partitions take turns for the handler. */
export class Permits {
  private readonly queue: Array<() => void> = [];

  constructor(private free: number) {}

  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free -= 1;
    else await new Promise<void>((resolve) => this.queue.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      if (next) next();
      else this.free += 1;
    };
  }
}
