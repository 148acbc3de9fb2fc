import type { CreateService } from '@cmis/platform';
import { createService as createRules, rulesDemo } from '@cmis/rules';
import { createService as createTriggers, triggersDemo } from '@cmis/triggers';

export interface DemoContext {
  baseUrl: string;
  apiKey: string;
  orgId: string;
}

/** A service the all-in-one process runs, mounted under `/<name>`. */
export interface ServiceEntry {
  name: string;
  create: CreateService;
  /** Its part of `cmis up --demo`: loads examples, returns lines to print. */
  demo?: (ctx: DemoContext) => Promise<string[]>;
}

/** Every service that exists, in start order (producers before their consumers). */
export const SERVICES: ServiceEntry[] = [
  { name: 'triggers', create: createTriggers, demo: triggersDemo },
  { name: 'rules', create: createRules, demo: rulesDemo },
];
