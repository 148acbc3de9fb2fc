// The dashboard slice: a web page of the other slices' numbers, behind the org's API key.
import type { AnalyticsSlice } from '../slice';
import { dashboardRoutes } from './api';
import { sessionMigrations } from './sessions';

export const dashboardSlice: AnalyticsSlice = {
  name: 'dashboard',
  migrations: sessionMigrations,
  routes: dashboardRoutes,
};

export { dashboardData, type DashboardData, type Panel } from './data';
