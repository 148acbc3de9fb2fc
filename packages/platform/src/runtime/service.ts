import type { Codec } from '@cmis/contracts';
import type { Router } from 'express';
import type { Bus, Subscription } from '../bus';
import type { Database, Migration } from '../db';
import type { EventStore } from '../eventstore';
import type { Metrics } from '../http';
import type { InboxOptions } from '../inbox';
import type { Logger } from '../logging';
import type { OutboxRelay } from '../outbox';
import type { RedisHelpers } from '../redis';
import type { ApiKeyAuth } from '../tenancy';

/** What one service gets from the platform: its own schema, relay, auth; shared transports. */
export interface ServiceRuntime {
  readonly name: string;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly bus: Bus;
  readonly codec: Codec;
  readonly redis: RedisHelpers;
  readonly db: Database;
  readonly eventStore: EventStore;
  readonly relay: OutboxRelay;
  readonly auth: ApiKeyAuth;
  /** Starts an inbox consumer owned by the service; it is drained on shutdown. */
  consume(options: Omit<InboxOptions, 'bus' | 'db' | 'codec'>): Promise<Subscription>;
  /** Event metadata for an append: the causal chain plus the active trace context. */
  eventMetadata(chain?: {
    correlationId?: string;
    causationId?: string;
    actor?: string;
  }): Record<string, string>;
}

/** A service as the runtime runs it; `createService(runtime)` in each service's service.ts. */
export interface ServiceModule {
  /** The service's own migrations, after the platform's (event store, outbox, inbox, tenancy). */
  migrations: Migration[];
  /** Routes, mounted under `/<service>` in the all-in-one process and at `/` when alone. */
  routes?(router: Router): void;
  /** Starts the service's consumers and pollers (after migrations, relay and tenancy). */
  start?(): Promise<void>;
  /** Stops what start started; consumers made with runtime.consume are drained for it. */
  stop?(): Promise<void>;
  /** Extra readiness checks, by name. */
  readiness?(): Promise<Record<string, boolean>>;
}

export type CreateService = (runtime: ServiceRuntime) => ServiceModule | Promise<ServiceModule>;
