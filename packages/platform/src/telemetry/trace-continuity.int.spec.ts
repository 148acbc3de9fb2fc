import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { throwawayOrg, uniqueSchema } from '@cmis/testkit';

interface FinishedSpan {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
}

const SERVER = 1;
const PRODUCER = 3;
const CONSUMER = 4;

function runFixture(
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // The compiled fixture: `pnpm test` builds before jest runs.
  const script = join(__dirname, '..', '..', 'dist', 'telemetry', 'trace-continuity.fixture.js');
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('trace continuity (real OpenTelemetry SDK, in-memory exporter, real Kafka and Postgres)', () => {
  it('an HTTP request, its event relayed and consumed, and the event that reaction republished form one trace', async () => {
    const traceId = randomBytes(16).toString('hex');
    const result = await runFixture({
      FIXTURE_SCHEMA: uniqueSchema('trace'),
      FIXTURE_ORG: throwawayOrg().orgId,
      FIXTURE_TRACEPARENT: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const spans = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as FinishedSpan);
    const inTrace = spans.filter((s) => s.traceId === traceId);
    const names = inTrace.map((s) => `${s.kind}:${s.name}`);

    // The request, both relay publishes and both consumer hops all carry the caller's trace id.
    expect(inTrace.some((s) => s.kind === SERVER && /POST/.test(s.name))).toBe(true);
    expect(names).toContain(`${PRODUCER}:publish cmis.triggers.user-actions.v1`);
    expect(names).toContain(`${CONSUMER}:process cmis.triggers.user-actions.v1`);
    expect(names).toContain(`${PRODUCER}:publish cmis.triggers.contacts.v1`);
    expect(names).toContain(`${CONSUMER}:process cmis.triggers.contacts.v1`);
    // And they chain: each hop's consumer span descends from the publish span of its event.
    const byId = new Map(inTrace.map((s) => [s.spanId, s]));
    const ancestors = (s: FinishedSpan): string[] => {
      const parent = s.parentSpanId ? byId.get(s.parentSpanId) : undefined;
      return parent ? [parent.name, ...ancestors(parent)] : [];
    };
    const lastHop = inTrace.find(
      (s) => s.kind === CONSUMER && s.name === 'process cmis.triggers.contacts.v1',
    )!;
    expect(ancestors(lastHop)).toEqual(
      expect.arrayContaining([
        'publish cmis.triggers.contacts.v1',
        'process cmis.triggers.user-actions.v1',
        'publish cmis.triggers.user-actions.v1',
      ]),
    );
  });
});
