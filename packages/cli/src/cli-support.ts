// What every `cmis` command shares: argument parsing, the two kinds of failure the process maps
// to exit codes (2: the command line is wrong; 1: the infrastructure is not there), and clients.
import { Kafka, logLevel } from 'kafkajs';

/** The command line is wrong: exit 2 with the usage. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Kafka, the registry or Postgres could not be reached or refused: exit 1, one line. */
export class InfraError extends Error {
  override name = 'InfraError';
}

export function flag(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const value = args[i + 1];
  if (value === undefined || value.startsWith('--')) throw new UsageError(`--${name} needs a value`);
  return value;
}

/** Every value of a flag that may repeat (`--id a --id b`, or `--id a,b`). */
export function flags(args: readonly string[], name: string): string[] {
  const values: string[] = [];
  args.forEach((arg, i) => {
    if (arg !== `--${name}`) return;
    const value = args[i + 1];
    if (value === undefined || value.startsWith('--')) throw new UsageError(`--${name} needs a value`);
    values.push(...value.split(',').filter(Boolean));
  });
  return values;
}

export function required(args: readonly string[], name: string): string {
  const value = flag(args, name);
  if (!value) throw new UsageError(`missing --${name}`);
  return value;
}

export function has(args: readonly string[], name: string): boolean {
  return args.includes(`--${name}`);
}

export function positiveInt(args: readonly string[], name: string): number | undefined {
  const value = flag(args, name);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${name} must be a positive integer`);
  return n;
}

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `24h`, `30m`, `90s`, `0`: a duration in milliseconds. */
export function parseDuration(text: string): number {
  if (text === '0') return 0;
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  if (!match) throw new UsageError(`not a duration (e.g. 24h, 30m, 90s, 0): ${text}`);
  return Number(match[1]) * UNITS[match[2]!]!;
}

export function kafkaBrokers(env: NodeJS.ProcessEnv, command: string): string[] {
  if (!env.KAFKA_BROKERS) throw new InfraError(`${command} needs KAFKA_BROKERS`);
  return env.KAFKA_BROKERS.split(',');
}

export function kafkaClient(env: NodeJS.ProcessEnv, command: string): Kafka {
  return new Kafka({
    brokers: kafkaBrokers(env, command),
    clientId: `cmis-cli`,
    logLevel: logLevel.NOTHING,
    // A runbook command should fail fast when the broker is not there, not retry for minutes.
    connectionTimeout: 3_000,
    retry: { retries: 2 },
  });
}

/** Runs `work` with a connected admin client; a broker that cannot be reached is an InfraError. */
export async function withKafkaAdmin<T>(
  kafka: Kafka,
  work: (admin: ReturnType<Kafka['admin']>) => Promise<T>,
): Promise<T> {
  const admin = kafka.admin();
  try {
    await admin.connect();
  } catch (error) {
    throw new InfraError(`cannot reach Kafka: ${(error as Error).message}`);
  }
  try {
    return await work(admin);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** A table of rows for people: columns padded to the widest cell. */
export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}
