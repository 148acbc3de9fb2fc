// The analytics service is a set of slices, each with its own tables (prefixed by the slice),
// consumer groups and routes; service.ts runs the ones listed in slices.ts.
import type { Migration, ServiceRuntime } from '@cmis/platform';
import type { Router } from 'express';
import type { BanditThrottle } from './experiments/bandit';

export interface SliceContext {
  rt: ServiceRuntime;
  /** The service's clock (windows, aging, attribution); tests inject one. */
  now: () => Date;
  /** Length of the periods measures are published for (default an hour). */
  measuresPeriodMs?: number;
  /** How often a bandit split's allocation may be published, and after how many new outcomes. */
  bandit?: Partial<BanditThrottle>;
}

export interface AnalyticsSlice {
  name: string;
  migrations: Migration[];
  routes?(router: Router, ctx: SliceContext): void;
  start?(ctx: SliceContext): Promise<void>;
  stop?(): Promise<void>;
}
