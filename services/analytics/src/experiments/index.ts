// The experiments slice: results of every A/B split (email variants, workflow random splits) and
// of rule holdouts, and decisions the email service acts on. Drip subscriptions carry no variant
// yet, so drip tests are not projected (add a consumer once cmis.drip.subscriptions.v1 has one).
import type { AnalyticsSlice } from '../slice';
import { experimentRoutes } from './api';
import { startExperimentConsumers } from './consumer';
import { experimentsMigrations } from './migrations';

export const experimentsSlice: AnalyticsSlice = {
  name: 'experiments',
  migrations: experimentsMigrations,
  routes(router, ctx) {
    experimentRoutes(router, { rt: ctx.rt, now: ctx.now });
  },
  async start(ctx) {
    await startExperimentConsumers(ctx.rt);
  },
};
