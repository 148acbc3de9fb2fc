// `cmis rebuild <service>`: refolds a service's read models from its event store, in its own
// schema, without starting the service (its consumers and API may keep running meanwhile: see
// rebuildProjection in the platform for why nothing arriving meanwhile is lost).
import {
  createDatabase,
  rebuildProjection,
  type RebuildableProjection,
  type RebuildReport,
} from '@cmis/platform';
import { campaignsProjection } from '@cmis/drip';
import { rulesProjection } from '@cmis/rules';
import { workflowsProjection } from '@cmis/workflows';
import { InfraError, UsageError } from './cli-support';

// Each service's event-sourced read models. Analytics projects topics, not an event store: it
// rebuilds an org through its own API (POST /v1/projections/rebuild).
const REBUILDABLE: Record<string, ReadonlyArray<RebuildableProjection<never>>> = {
  rules: [rulesProjection as RebuildableProjection<never>],
  workflows: [workflowsProjection as RebuildableProjection<never>],
  drip: [campaignsProjection as RebuildableProjection<never>],
};

export const rebuildableServices = () => Object.keys(REBUILDABLE);

export interface RebuildOptions {
  service: string;
  projection?: string;
  orgIds?: string[];
  /** The service's Postgres schema when it is not named after the service. */
  schema?: string;
}

export async function rebuild(env: NodeJS.ProcessEnv, options: RebuildOptions): Promise<RebuildReport[]> {
  const projections = REBUILDABLE[options.service];
  if (!projections) {
    const hint =
      options.service === 'analytics'
        ? ' (analytics rebuilds from its topics: POST /v1/projections/rebuild)'
        : '';
    throw new UsageError(
      `unknown service for rebuild: ${options.service}${hint}; one of ${rebuildableServices().join(', ')}`,
    );
  }
  const chosen = options.projection ? projections.filter((p) => p.name === options.projection) : projections;
  if (chosen.length === 0)
    throw new UsageError(
      `${options.service} has no projection ${options.projection}; it has ${projections.map((p) => p.name).join(', ')}`,
    );
  if (!env.DATABASE_URL) throw new InfraError('cmis rebuild needs DATABASE_URL (the service database)');
  const db = createDatabase({
    url: env.DATABASE_URL,
    schema: options.schema ?? options.service.replace(/-/g, '_'),
    poolMax: 2,
    ownerPoolMax: 1,
  });
  try {
    const reports: RebuildReport[] = [];
    for (const projection of chosen)
      reports.push(await rebuildProjection(db, projection, options.orgIds ? { orgIds: options.orgIds } : {}));
    return reports;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new InfraError(`rebuild of ${options.service} failed: ${(error as Error).message}`);
  } finally {
    await db.destroy();
  }
}

export function formatRebuild(service: string, reports: readonly RebuildReport[]): string {
  return reports
    .map(
      (r) =>
        `${service}/${r.projection}: rebuilt ${r.streams} streams (${r.events} events) of ${r.orgs} orgs\n`,
    )
    .join('');
}
