import { join } from 'node:path';
import { ensureApicurio } from './artifacts';
import { freePort, startProcess, waitUntilReady } from './process';

export interface RunningRegistry {
  /** Base URL of the Confluent-compatible API, e.g. http://127.0.0.1:1234/apis/ccompat/v7 */
  readonly url: string;
  readonly logFile: string;
  stop(): Promise<void>;
}

/** Apicurio Registry 3 with its default in-memory (H2) storage, on a free loopback port. */
export async function startRegistry(workDir: string, deadlineMs = 60_000): Promise<RunningRegistry> {
  const jar = await ensureApicurio();
  const port = await freePort();
  const logFile = join(workDir, 'registry.log');
  const proc = startProcess(
    'schema registry',
    'java',
    [
      '-Xms128m',
      '-Xmx512m',
      '-XX:TieredStopAtLevel=1',
      `-Dquarkus.http.port=${port}`,
      '-Dquarkus.http.host=127.0.0.1',
      // Nothing else listens: keep the management interface and dev services off the network.
      '-Dquarkus.management.enabled=false',
      `-Djava.io.tmpdir=${workDir}`,
      '-jar',
      jar,
    ],
    logFile,
  );
  const url = `http://127.0.0.1:${port}/apis/ccompat/v7`;
  await waitUntilReady(
    proc,
    async () => (await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(2_000) })).status === 200,
    deadlineMs,
    /Port \d+ seems to be in use|Address already in use|Failed to start application/,
  );
  return { url, logFile, stop: () => proc.stop() };
}
