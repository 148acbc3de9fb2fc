/** What the hooks need of a running instance. */
export type Stoppable = {
  /** Synchronous best effort for the 'exit' event: signal Postgres, release the lock. */
  stopNow(): void;
  stop(): Promise<void>;
};

const running = new Set<Stoppable>();
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * Stops instances whose caller forgot to: on 'exit', Postgres gets its fast-shutdown signal
 * (it finishes on its own after we are gone). On SIGINT/SIGTERM we act only if no one else
 * listens: then we stop Postgres and re-raise the signal with our handler removed, so the
 * process ends as it would have without us. If the app listens, it runs its own shutdown
 * (which still needs the database) and calls stop(), or exits and 'exit' covers it.
 * Returns the function that unregisters the instance.
 */
export function stopOnExit(instance: Stoppable): () => void {
  if (running.size === 0) {
    process.on('exit', onExit);
    for (const signal of SIGNALS) process.on(signal, onSignal);
  }
  running.add(instance);
  return () => {
    if (!running.delete(instance) || running.size > 0) return;
    process.off('exit', onExit);
    for (const signal of SIGNALS) process.off(signal, onSignal);
  };
}

function onExit(): void {
  for (const instance of running) instance.stopNow();
}

function onSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return;
  void Promise.allSettled([...running].map((instance) => instance.stop())).then(() => {
    for (const each of SIGNALS) process.off(each, onSignal);
    process.kill(process.pid, signal);
  });
}
