// Recovery after a fault, measured as an operator would see it: from the moment of the fault to
// the moment every service it hit answers /readyz again AND shows work done since the fault (a
// consumer service: its groups committed past where they stood, its next output appeared, or it
// has nothing left to consume;
// ingest: a request sent after the fault accepted). Work in flight before the fault does not count: a dead process commits
// nothing, and a broker that is down accepts no commit.
import type { CmisServiceName, ServiceStack } from '@cmis/testkit';
import type { ConsumerProgress } from './consumer-progress';
import { sleep } from './retrying-client';

export interface ServiceRecovery {
  service: CmisServiceName;
  readyAfterMs: number;
  progressAfterMs: number;
}

export interface FaultRecovery {
  fault: string;
  /** When it happened, from the start of the run. */
  atMs: number;
  /** The slowest service: max of ready and progress, from the fault. */
  recoveryMs: number;
  services: ServiceRecovery[];
}

/** A restarted process that exited before it was ready, and was started again. */
export interface FailedStart {
  service: CmisServiceName;
  afterMs: number;
  /** The last line it logged: why it did not start. */
  reason: string;
}

/** A service's committed offsets (summed) and output messages at one moment. */
export interface Standing {
  committed: number;
  outputs: number;
}

export interface RecoveryProbe {
  /** Starts that failed during a restart, each followed by another start (as a supervisor does). */
  readonly failedStarts: FailedStart[];
  /** Where each service's groups and outputs stand now (take it right before the fault). */
  snapshot(services: readonly CmisServiceName[]): Promise<Map<CmisServiceName, Standing>>;
  /** Resolves once each service is ready and made progress past `before`, or the deadline passed. */
  recovered(
    services: readonly CmisServiceName[],
    faultAt: number,
    before: Map<CmisServiceName, Standing>,
    deadlineMs: number,
    restarted?: boolean,
  ): Promise<ServiceRecovery[]>;
}

export interface RecoveryProbeOptions {
  stack: ServiceStack;
  progress: ConsumerProgress;
  /** Each service's consumer groups (ingest has none that the workload moves). */
  groups: Map<CmisServiceName, string[]>;
  /** How many messages the service has put on its output topics so far (0 when none is read). */
  outputs(service: CmisServiceName): number;
  /** When the first ingest request sent at or after `t` was accepted (undefined: none yet). */
  ingestAcceptedAfter(t: number): number | undefined;
}

export function recoveryProbe(options: RecoveryProbeOptions): RecoveryProbe {
  const { stack, progress, groups } = options;
  const committed = (service: CmisServiceName) => progress.committed(groups.get(service) ?? []);
  const failedStarts: FailedStart[] = [];
  const ready = async (service: CmisServiceName, faultAt: number, restarted: boolean) => {
    const process = stack.service(service);
    // A restart that did not come up (e.g. Postgres refused a connection) is started again, as a
    // supervisor would; a service that a broker or Postgres fault took down stays down.
    if (restarted && !process.running) {
      const lines = process
        .logTail(20)
        .split('\n')
        .filter((l) => l.trim() !== '');
      const reason = lines.find((l) => l.includes('did not start')) ?? lines[lines.length - 1] ?? '';
      failedStarts.push({ service, afterMs: Date.now() - faultAt, reason: reason.slice(0, 300) });
      process.spawn();
      return false;
    }
    const res = await fetch(`${stack.service(service).url}/readyz`, {
      signal: AbortSignal.timeout(2_000),
    }).catch(() => undefined);
    return res?.status === 200;
  };
  const waitFor = async (probe: () => Promise<boolean>, deadline: number): Promise<number> => {
    for (;;) {
      if (await probe().catch(() => false)) return Date.now();
      if (Date.now() > deadline) return Number.POSITIVE_INFINITY;
      await sleep(250);
    }
  };
  return {
    failedStarts,
    async snapshot(services) {
      const out = new Map<CmisServiceName, Standing>();
      for (const s of services) {
        if (s !== 'triggers') out.set(s, { committed: await committed(s), outputs: options.outputs(s) });
      }
      return out;
    },
    recovered(services, faultAt, before, deadlineMs, restarted = false) {
      const deadline = faultAt + deadlineMs;
      return Promise.all(
        services.map(async (service) => {
          const readyAt = await waitFor(() => ready(service, faultAt, restarted), deadline);
          const progressAt =
            service === 'triggers'
              ? await waitFor(async () => options.ingestAcceptedAfter(faultAt) !== undefined, deadline).then(
                  (t) => (Number.isFinite(t) ? options.ingestAcceptedAfter(faultAt)! : t),
                )
              : // Worked since the fault (committed, or published new output: a dead process does
                // neither), or (ready, so its groups joined) has nothing left to do.
                await waitFor(
                  async () =>
                    options.outputs(service) > before.get(service)!.outputs ||
                    (await committed(service)) > before.get(service)!.committed ||
                    (Number.isFinite(readyAt) && (await progress.pending(groups.get(service) ?? [])) === 0),
                  deadline,
                );
          return { service, readyAfterMs: readyAt - faultAt, progressAfterMs: progressAt - faultAt };
        }),
      );
    },
  };
}

/** The table the chaos test prints: one line per fault, its slowest service and each one's figures. */
export function recoveryTable(recoveries: FaultRecovery[]): string {
  const s = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : 'never');
  const lines = [...recoveries]
    .sort((a, b) => a.atMs - b.atMs)
    .map((r, i) => {
      const slowest = r.services.reduce((a, b) =>
        Math.max(a.readyAfterMs, a.progressAfterMs) >= Math.max(b.readyAfterMs, b.progressAfterMs) ? a : b,
      );
      return [
        String(i + 1).padStart(2),
        r.fault.padEnd(26),
        s(r.atMs).padStart(8),
        s(r.recoveryMs).padStart(9),
        `${slowest.service}: ready ${s(slowest.readyAfterMs)}, progress ${s(slowest.progressAfterMs)}`,
      ].join('  ');
    });
  return [' #  fault                             at  recovery  slowest service', ...lines].join('\n');
}
