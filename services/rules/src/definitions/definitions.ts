// The rule aggregate as a pure decider: created, updated, enabled, disabled, deleted. Every change
// is an event in the rule's stream carrying who made it and the version it changed (the audit trail).
import { ConflictError, NotFoundError, type Decider, type Message } from '@cmis/platform';
import type { RuleDefinition } from './rule';

type CommandMetadata = { now: Date; actor: string; correlationId?: string };
type EventMetadata = { actor: string; correlationId?: string };

export type RuleCommand =
  | Message<'CreateRule', { ruleId: string; definition: RuleDefinition }, CommandMetadata>
  | Message<
      'UpdateRule',
      { ruleId: string; definition: RuleDefinition; expectedVersion?: number },
      CommandMetadata
    >
  | Message<'EnableRule', { ruleId: string }, CommandMetadata>
  | Message<'DisableRule', { ruleId: string; reason?: string }, CommandMetadata>
  | Message<'DeleteRule', { ruleId: string }, CommandMetadata>;

type Change = { ruleId: string; actor: string; at: string; previousVersion: number };

export type RuleEvent =
  | Message<'cmis.rules.rule-created', Change & { definition: RuleDefinition }, EventMetadata>
  | Message<
      'cmis.rules.rule-updated',
      Change & { definition: RuleDefinition; changedFields: string[] },
      EventMetadata
    >
  | Message<'cmis.rules.rule-enabled', Change, EventMetadata>
  | Message<'cmis.rules.rule-disabled', Change & { reason?: string }, EventMetadata>
  | Message<'cmis.rules.rule-deleted', Change, EventMetadata>;

export type RuleState =
  | { status: 'absent' }
  | {
      status: 'live' | 'deleted';
      ruleId: string;
      version: number;
      definition: RuleDefinition;
      createdAt: string;
      updatedAt: string;
    };

export class RuleNotFoundError extends NotFoundError {
  constructor(readonly ruleId: string) {
    super(`Rule ${ruleId} does not exist`);
  }
}

export class RuleExistsError extends ConflictError {
  constructor(readonly ruleId: string) {
    super(`Rule ${ruleId} already exists`);
  }
}

export class RuleVersionConflictError extends ConflictError {
  constructor(
    readonly ruleId: string,
    expected: number,
    readonly current: number,
  ) {
    super(`Rule ${ruleId} is at version ${current}, not ${expected}`, { currentVersion: current });
  }
}

/** The top-level fields whose values differ between two definitions (for the audit trail). */
export function changedFields(before: RuleDefinition, after: RuleDefinition): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]) as Set<keyof RuleDefinition>;
  return [...keys].filter((k) => canonical(before[k]) !== canonical(after[k])).sort();
}

// Key order is not meaning: a definition read back from jsonb has its keys reordered.
function canonical(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
        )
      : v,
  );
}

export const ruleDecider: Decider<RuleState, RuleCommand, RuleEvent> = {
  initialState: () => ({ status: 'absent' }),

  decide(command, state) {
    const { now, actor, correlationId } = command.metadata;
    const metadata: EventMetadata = correlationId ? { actor, correlationId } : { actor };
    const ruleId = command.data.ruleId;
    const at = now.toISOString();
    if (command.type === 'CreateRule') {
      if (state.status !== 'absent') throw new RuleExistsError(ruleId);
      const data = { ruleId, actor, at, previousVersion: 0, definition: command.data.definition };
      return [{ type: 'cmis.rules.rule-created', data, metadata }];
    }
    if (state.status !== 'live') throw new RuleNotFoundError(ruleId);
    const change: Change = { ruleId, actor, at, previousVersion: state.version };
    switch (command.type) {
      case 'UpdateRule': {
        const { expectedVersion, definition } = command.data;
        if (expectedVersion !== undefined && expectedVersion !== state.version) {
          throw new RuleVersionConflictError(ruleId, expectedVersion, state.version);
        }
        const changed = changedFields(state.definition, definition);
        if (changed.length === 0) return [];
        return [
          {
            type: 'cmis.rules.rule-updated',
            data: { ...change, definition, changedFields: changed },
            metadata,
          },
        ];
      }
      case 'EnableRule':
        return state.definition.enabled ? [] : [{ type: 'cmis.rules.rule-enabled', data: change, metadata }];
      case 'DisableRule': {
        if (!state.definition.enabled) return [];
        const reason = command.data.reason;
        return [
          { type: 'cmis.rules.rule-disabled', data: reason ? { ...change, reason } : change, metadata },
        ];
      }
      case 'DeleteRule':
        return [{ type: 'cmis.rules.rule-deleted', data: change, metadata }];
      default:
        return unreachable(command);
    }
  },

  evolve(state, event) {
    const at = event.data.at;
    switch (event.type) {
      case 'cmis.rules.rule-created':
        return {
          status: 'live',
          ruleId: event.data.ruleId,
          version: 1,
          definition: event.data.definition,
          createdAt: at,
          updatedAt: at,
        };
      case 'cmis.rules.rule-updated':
        return state.status === 'absent'
          ? state
          : { ...state, version: state.version + 1, definition: event.data.definition, updatedAt: at };
      case 'cmis.rules.rule-enabled':
      case 'cmis.rules.rule-disabled': {
        if (state.status === 'absent') return state;
        const enabled = event.type === 'cmis.rules.rule-enabled';
        return {
          ...state,
          version: state.version + 1,
          definition: { ...state.definition, enabled },
          updatedAt: at,
        };
      }
      case 'cmis.rules.rule-deleted':
        return state.status === 'absent'
          ? state
          : { ...state, status: 'deleted', version: state.version + 1, updatedAt: at };
      default:
        return unreachable(event);
    }
  },
};

function unreachable(value: never): never {
  throw new Error(`unhandled message ${JSON.stringify(value)}`);
}
