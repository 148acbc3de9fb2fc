#!/usr/bin/env node
import '@cmis/platform/otel';
import { join } from 'node:path';
import { ConfigError, EmbeddedPostgresError } from '@cmis/platform';
import { runAdminCommand, provision, type AdminCommand, type ProvisionReport } from './admin-commands';
import { startAllInOne, StartupError } from './all-in-one';
import { runDemo } from './demo';
import { SERVICES } from './services';

const USAGE = `usage:
  cmis up [--demo]                         every service in one process (embedded default without
                                           KAFKA_BROKERS / DATABASE_URL / REDIS_URL)
  cmis org create --name <name>
  cmis key issue --org <orgId> --scopes <a,b>
  cmis key revoke --org <orgId> --key <keyId>
  cmis provision                           create catalog topics (and register schemas) on KAFKA_BROKERS`;

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

function required(args: string[], name: string): string {
  const value = flag(args, name);
  if (!value) throw new UsageError(`missing --${name}`);
  return value;
}

class UsageError extends Error {}

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

async function main(argv: string[]): Promise<void> {
  const [command, sub, ...rest] = argv;
  const args = [sub ?? '', ...rest];
  let admin: AdminCommand | undefined;
  switch (`${command} ${command === 'up' || command === 'provision' ? '' : (sub ?? '')}`.trim()) {
    case 'up':
      return up(argv.slice(1));
    case 'provision':
      process.stdout.write(formatProvisionReport(await provision()));
      return;
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
      throw new UsageError(command ? `unknown command: ${argv.join(' ')}` : 'no command given');
  }
  process.stdout.write(`${JSON.stringify(await runAdminCommand(admin), null, 2)}\n`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UsageError) {
    process.stderr.write(`cmis: ${error.message}\n${USAGE}\n`);
    process.exit(2);
  }
  const known =
    error instanceof StartupError || error instanceof ConfigError || error instanceof EmbeddedPostgresError;
  process.stderr.write(
    `cmis: ${known ? (error as Error).message : ((error as Error).stack ?? String(error))}\n`,
  );
  process.exit(1);
});

function formatProvisionReport(report: ProvisionReport): string {
  const lines = [
    `created: ${report.created.join(', ') || 'nothing (all topics exist)'}`,
    `retention set back to the catalog's: ${report.retentionUpdated.join(', ') || 'none'}`,
    ...report.partitionDrift.map(
      (d) =>
        `warning: ${d.topic} has ${d.partitions} partitions, the catalog says ${d.catalogPartitions}; ` +
        'left as is (changing it moves keys between partitions)',
    ),
  ];
  return `${lines.join('\n')}\n`;
}
