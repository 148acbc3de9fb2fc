#!/usr/bin/env node
import '@cmis/platform/otel';
import { join } from 'node:path';
import { ConfigError, EmbeddedPostgresError } from '@cmis/platform';
import { runAdminCommand, provision, type AdminCommand, type ProvisionReport } from './admin-commands';
import { startAllInOne, StartupError } from './all-in-one';
import {
  flag,
  flags,
  has,
  InfraError,
  parseDuration,
  positiveInt,
  required,
  UsageError,
} from './cli-support';
import { formatDeadLetters, formatReplay, listDeadLetters, replayDeadLetters, toJson } from './dead-letters';
import { runDemo } from './demo';
import { consumerLag, formatLag } from './lag';
import { formatRebuild, rebuild, rebuildableServices } from './rebuild';
import { DEFAULT_GRACE_MS, formatRotation, rotateKeys } from './rotate-keys';
import { SERVICES } from './services';

const USAGE = `usage:
  cmis up [--demo]                         every service in one process (embedded default without
                                           KAFKA_BROKERS / DATABASE_URL / REDIS_URL)
  cmis org create --name <name>
  cmis org rotate-keys --org <orgId> [--grace <duration>]
                                           new key, same scopes, for each active key; the old ones
                                           stop working after the grace (default 24h; 0 = now)
  cmis key issue --org <orgId> --scopes <a,b>
  cmis key revoke --org <orgId> --key <keyId>
  cmis provision                           create catalog topics and register their schemas
                                           (SCHEMA_REGISTRY_URL) on KAFKA_BROKERS, with
                                           KAFKA_REPLICATION_FACTOR replicas (default: the broker's)
  cmis dead-letters list --topic <topic> [--limit N] [--org <orgId>] [--json]
  cmis dead-letters replay --topic <topic> (--id <deadLetterId>... | --all) [--org <orgId>] [--dry-run] [--json]
                                           re-publish dead letters (after a fix) to their topic;
                                           each is replayed once (a marker on the dead-letter topic)
  cmis rebuild <service> [--projection <name>] [--org <orgId>...] [--schema <schema>]
                                           refold a service's read models from its event store
                                           (DATABASE_URL; services: ${rebuildableServices().join(', ')})
  cmis lag [--group <groupId>] [--json]    committed offset, end offset and lag per group and
                                           partition (Kafka, or the embedded bus in DATABASE_URL)`;

async function up(args: string[]): Promise<void> {
  const print = (line: string) => process.stdout.write(`${line}\n`);
  const running = await startAllInOne({ print });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    print(`\n${signal}: shutting down (draining consumers, flushing the outbox)...`);
    running.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`shutdown failed: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  if (args.includes('--demo')) await runDemo(running, SERVICES, print, join(running.dataDir, 'demo.txt'));
  print(`\nCMIS ready: ${running.url}`);
}

const out = (text: string): void => {
  process.stdout.write(text);
};
const json = (value: unknown) => out(`${JSON.stringify(value, null, 2)}\n`);

async function main(argv: string[]): Promise<void> {
  if (argv.length === 0) throw new UsageError('no command given');
  if (has(argv, 'help') || argv[0] === 'help') {
    out(`${USAGE}\n`);
    return;
  }
  const [command, sub, ...rest] = argv;
  const args = [sub ?? '', ...rest];
  const single = ['up', 'provision', 'rebuild', 'lag'].includes(command!);
  let admin: AdminCommand | undefined;
  switch (`${command} ${single ? '' : (sub ?? '')}`.trim()) {
    case 'up':
      return up(argv.slice(1));
    case 'provision':
      return out(formatProvisionReport(await provision()));
    case 'dead-letters list': {
      const letters = await listDeadLetters(process.env, {
        topic: required(args, 'topic'),
        limit: positiveInt(args, 'limit'),
        orgId: flag(args, 'org'),
      });
      return has(args, 'json') ? json(letters.map(toJson)) : out(formatDeadLetters(letters));
    }
    case 'dead-letters replay': {
      const report = await replayDeadLetters(process.env, {
        topic: required(args, 'topic'),
        ids: flags(args, 'id'),
        all: has(args, 'all'),
        orgId: flag(args, 'org'),
        dryRun: has(args, 'dry-run'),
      });
      return has(args, 'json') ? json(report) : out(formatReplay(report));
    }
    case 'rebuild': {
      const service = sub && !sub.startsWith('--') ? sub : undefined;
      if (!service) throw new UsageError('rebuild needs a service');
      const orgIds = flags(rest, 'org');
      const reports = await rebuild(process.env, {
        service,
        projection: flag(rest, 'projection'),
        schema: flag(rest, 'schema'),
        ...(orgIds.length > 0 ? { orgIds } : {}),
      });
      return out(formatRebuild(service, reports));
    }
    case 'lag': {
      const rows = await consumerLag(process.env, { group: flag(argv, 'group') });
      return has(argv, 'json') ? json(rows) : out(formatLag(rows));
    }
    case 'org rotate-keys': {
      const grace = flag(args, 'grace');
      const rotation = await rotateKeys(process.env, {
        orgId: required(args, 'org'),
        graceMs: grace === undefined ? DEFAULT_GRACE_MS : parseDuration(grace),
      });
      return has(args, 'json') ? json(rotation) : out(formatRotation(rotation));
    }
    case 'org create':
      admin = { kind: 'org-create', name: required(args, 'name') };
      break;
    case 'key issue':
      admin = {
        kind: 'key-issue',
        orgId: required(args, 'org'),
        scopes: required(args, 'scopes').split(','),
      };
      break;
    case 'key revoke':
      admin = { kind: 'key-revoke', orgId: required(args, 'org'), keyId: required(args, 'key') };
      break;
    default:
      throw new UsageError(`unknown command: ${argv.join(' ')}`);
  }
  json(await runAdminCommand(admin));
}

main(process.argv.slice(2)).then(
  // Kafka and Postgres clients may keep timers: a one-shot command ends when its work did.
  () => {
    if (process.argv[2] !== 'up') process.exit(0);
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`cmis: ${error.message}\n${USAGE}\n`);
      process.exit(2);
    }
    const known =
      error instanceof InfraError ||
      error instanceof StartupError ||
      error instanceof ConfigError ||
      error instanceof EmbeddedPostgresError;
    process.stderr.write(
      `cmis: ${known ? (error as Error).message.split('\n')[0] : ((error as Error).stack ?? String(error))}\n`,
    );
    process.exit(1);
  },
);

function formatProvisionReport(report: ProvisionReport): string {
  const lines = [
    `created: ${report.created.join(', ') || 'nothing (all topics exist)'}`,
    `retention set back to the catalog's: ${report.retentionUpdated.join(', ') || 'none'}`,
    ...report.partitionDrift.map(
      (d) =>
        `warning: ${d.topic} has ${d.partitions} partitions, the catalog says ${d.catalogPartitions}; ` +
        'left as is (changing it moves keys between partitions)',
    ),
    report.registered === null
      ? 'schemas: not registered (SCHEMA_REGISTRY_URL is not set)'
      : `schemas registered (${report.registered.length}): ${report.registered
          .map((r) => `${r.subject} id ${r.id}`)
          .join(', ')}`,
  ];
  return `${lines.join('\n')}\n`;
}
