// The pure heart of an instance: given its state, its workflow version and one input (entered, a
// timer fired, an event arrived, an outside effect's outcome, an operator's command), run steps
// until the instance must wait or ends. Returns the events that say what happened, the effects the
// service carries out in the same transaction (timers, email requests, actions, webhook intents,
// wait registrations) and every decision with its inputs (the contact's history). No I/O, no clock:
// `at` comes with the input, so a simulation on a virtual clock runs the same code.
import { durationMs, edgesOf, type Step, type WorkflowDefinition } from '../definitions/workflow';
import { nextTimeOfDay } from '@cmis/platform';
import { banditOptionsOf, branchAt, splitWeights, stickyBucket, type SplitAllocation } from './split';

export { stickyBucket, type SplitAllocation } from './split';

export type InstanceStatus =
  'running' | 'waiting' | 'completed' | 'converted' | 'exited' | 'failed' | 'cancelled';
export const ENDED: ReadonlySet<InstanceStatus> = new Set([
  'completed',
  'converted',
  'exited',
  'failed',
  'cancelled',
]);

export interface Waiting {
  kind: 'delay' | 'wait_event' | 'webhook' | 'retry';
  stepId: string;
  visit: number;
  /** Event time the wait began; an event at or after it counts. */
  since: string;
  until?: string;
  event?: string;
}

export interface InstanceState {
  instanceId: string;
  workflowId: string;
  version: number;
  contactId: string;
  status: InstanceStatus;
  stepId?: string;
  waiting?: Waiting;
  /** How many times each step was entered (a cycle's effects get a new id per visit). */
  visits: Record<string, number>;
  /** What later conditions read as steps.<id>.* */
  steps: Record<string, Record<string, unknown>>;
  /** The entry event (track call data), read as event.* */
  entryEvent: Record<string, unknown>;
  attempts: number;
  lastError?: string;
}

export interface ConditionResult {
  outcome: 'passed' | 'failed' | 'missing';
  trace: unknown[];
}

/** A published version, compiled once: its steps and a compiled test per condition. */
export interface CompiledWorkflow {
  workflowId: string;
  version: number;
  definition: WorkflowDefinition;
  steps: Map<string, Step>;
  /** `ref` is `<stepId>` (condition step), `<stepId>.<branch>` (split) or `<stepId>.filter` (wait). */
  test(ref: string, ctx: ConditionContext): ConditionResult;
}

export interface ConditionContext {
  event?: Record<string, unknown>;
  contact?: Record<string, unknown>;
  steps?: Record<string, unknown>;
}

export interface TrackedEvent {
  id: string;
  name: string;
  /** When it happened (the sender's timestamp): waits are judged by it. */
  at: string;
  data: Record<string, unknown>;
}

export type EngineInput =
  | {
      kind: 'start';
      at: string;
      entry: 'event' | 'rule' | 'api' | 'segment';
      causeId: string;
      event?: TrackedEvent;
    }
  | { kind: 'timer'; at: string; stepId: string; visit: number; purpose: 'delay' | 'timeout' | 'retry' }
  | { kind: 'event'; at: string; event: TrackedEvent }
  | {
      kind: 'effect';
      at: string;
      stepId: string;
      visit: number;
      ok: boolean;
      detail?: Record<string, unknown>;
      reason?: string;
      permanent?: boolean;
    }
  | { kind: 'goal'; at: string; causeId: string; name: string }
  | { kind: 'exit'; at: string; causeId: string; reason: string }
  | { kind: 'cancel'; at: string; reason: string }
  | { kind: 'retry'; at: string }
  | { kind: 'skip'; at: string }
  | { kind: 'migrate'; at: string; toStepId: string };

type Ref = { instanceId: string; workflowId: string; workflowVersion: number; contactId: string };

export type InstanceEvent =
  | {
      type: 'cmis.workflows.instance-started';
      data: Ref & { entry: 'event' | 'rule' | 'api' | 'segment'; causeId: string; holdout?: boolean };
      entryEvent?: Record<string, unknown>;
    }
  | {
      type: 'cmis.workflows.step-completed';
      data: Ref & {
        stepId: string;
        stepKind: string;
        outcome: string;
        next?: string;
        effectId?: string;
        detail?: Record<string, unknown>;
      };
    }
  | {
      type: 'cmis.workflows.instance-waiting';
      data: Ref & { stepId: string; stepKind: string; until?: string; eventName?: string };
      waiting: Waiting;
    }
  | {
      type: 'cmis.workflows.step-failed';
      data: Ref & { stepId: string; attempt: number; reason: string; retryAt?: string };
    }
  | {
      type: 'cmis.workflows.instance-ended';
      data: Ref & {
        status: 'completed' | 'converted' | 'exited' | 'failed' | 'cancelled';
        reason?: string;
        stepId?: string;
        causeId?: string;
      };
    }
  | {
      type: 'cmis.workflows.instance-migrated';
      data: Ref & { fromVersion: number; fromStepId: string; toStepId: string };
    };

export type Effect =
  | {
      kind: 'schedule-timer';
      timerId: string;
      dueAt: string;
      stepId: string;
      visit: number;
      purpose: 'delay' | 'timeout' | 'retry';
    }
  | { kind: 'cancel-timer'; timerId: string }
  | { kind: 'register-wait'; stepId: string; visit: number; event: string; since: string; until: string }
  | { kind: 'clear-wait' }
  | {
      kind: 'send-email';
      stepId: string;
      idempotencyKey: string;
      step: Extract<Step, { kind: 'send_email' }>;
    }
  | {
      kind: 'request-action';
      stepId: string;
      actionId: string;
      step: Extract<Step, { kind: 'update_contact' | 'enroll_drip' | 'campaign_action' }>;
    }
  | {
      kind: 'deliver-webhook';
      stepId: string;
      visit: number;
      deliveryId: string;
      step: Extract<Step, { kind: 'webhook' }>;
    };

export interface Decision {
  stepId?: string;
  kind: string;
  outcome: string;
  inputs: Record<string, unknown>;
}

export interface EngineResult {
  state: InstanceState;
  events: InstanceEvent[];
  effects: Effect[];
  decisions: Decision[];
}

export interface EngineContext {
  workflow: CompiledWorkflow;
  contact?: Record<string, unknown>;
  /** The retry limit and backoff base of the version. */
  retry?: { maxAttempts: number; baseSeconds: number };
  /** The latest allocation of each bandit random split, by step id (none yet: its own weights). */
  allocations?: Record<string, SplitAllocation>;
}

/** Steps one input may run before the instance is failed (a guard; cycles need a wait anyway). */
export const MAX_STEPS_PER_INPUT = 1_000;
const MAX_BACKOFF_MS = 6 * 3_600_000;

export const timerIdOf = (instanceId: string, stepId: string, visit: number, purpose: string) =>
  `${instanceId}:${stepId}:${visit}:${purpose}`;
export const effectIdOf = (instanceId: string, stepId: string, visit: number) =>
  `${instanceId}:${stepId}:${visit}`;

export function emptyState(ref: {
  instanceId: string;
  workflowId: string;
  version: number;
  contactId: string;
}): InstanceState {
  return { ...ref, status: 'running', visits: {}, steps: {}, entryEvent: {}, attempts: 0 };
}

/** Folds one event into the state: the state is only ever what its events say. */
export function evolve(state: InstanceState, event: InstanceEvent): InstanceState {
  switch (event.type) {
    case 'cmis.workflows.instance-started':
      return { ...state, status: 'running', entryEvent: event.entryEvent ?? state.entryEvent };
    case 'cmis.workflows.step-completed': {
      const { stepId, next, detail, outcome } = event.data;
      const steps = { ...state.steps, [stepId]: { outcome, ...detail } };
      const visits =
        next !== undefined ? { ...state.visits, [next]: (state.visits[next] ?? 0) + 1 } : state.visits;
      const { waiting: _w, lastError: _e, ...rest } = state;
      return {
        ...rest,
        status: 'running',
        steps,
        visits,
        attempts: 0,
        ...(next !== undefined ? { stepId: next } : {}),
      };
    }
    case 'cmis.workflows.instance-waiting':
      return { ...state, status: 'waiting', stepId: event.data.stepId, waiting: event.waiting };
    case 'cmis.workflows.step-failed':
      return { ...state, attempts: event.data.attempt, lastError: event.data.reason };
    case 'cmis.workflows.instance-ended': {
      const { waiting: _w, ...rest } = state;
      return {
        ...rest,
        status: event.data.status,
        ...(event.data.reason ? { lastError: event.data.reason } : {}),
      };
    }
    case 'cmis.workflows.instance-migrated': {
      const { waiting: _w, ...rest } = state;
      const to = event.data.toStepId;
      return {
        ...rest,
        status: 'running',
        version: event.data.workflowVersion,
        stepId: to,
        visits: { ...state.visits, [to]: (state.visits[to] ?? 0) + 1 },
        attempts: 0,
      };
    }
    default:
      return state;
  }
}

/** The engine: one input in, what happened out. */
export function advance(state: InstanceState, input: EngineInput, ctx: EngineContext): EngineResult {
  const run = new Run(state, ctx);
  run.accept(input);
  return { state: run.state, events: run.events, effects: run.effects, decisions: run.decisions };
}

class Run {
  events: InstanceEvent[] = [];
  effects: Effect[] = [];
  decisions: Decision[] = [];

  constructor(
    public state: InstanceState,
    private readonly ctx: EngineContext,
  ) {}

  private get ref(): Ref {
    const s = this.state;
    return {
      instanceId: s.instanceId,
      workflowId: s.workflowId,
      workflowVersion: s.version,
      contactId: s.contactId,
    };
  }

  private emit(event: InstanceEvent) {
    this.events.push(event);
    this.state = evolve(this.state, event);
  }

  private get ended() {
    return ENDED.has(this.state.status);
  }

  accept(input: EngineInput) {
    if (input.kind === 'start') return this.start(input);
    const revive = (input.kind === 'retry' || input.kind === 'skip') && this.state.status === 'failed';
    if (this.ended && !revive) {
      this.decisions.push({
        kind: input.kind,
        outcome: 'ignored',
        inputs: { reason: `instance ${this.state.status}` },
      });
      return;
    }
    switch (input.kind) {
      case 'goal':
        return this.end('converted', input.at, { causeId: input.causeId, reason: `goal ${input.name}` });
      case 'exit':
        return this.end('exited', input.at, { causeId: input.causeId, reason: input.reason });
      case 'cancel':
        return this.end('cancelled', input.at, { reason: input.reason });
      case 'timer':
        return this.timer(input);
      case 'event':
        return this.eventArrived(input);
      case 'effect':
        return this.effectOutcome(input);
      case 'retry':
      case 'skip':
        return this.operator(input);
      case 'migrate':
        return this.migrate(input);
    }
  }

  private start(input: Extract<EngineInput, { kind: 'start' }>) {
    const { definition } = this.ctx.workflow;
    this.events.push({
      type: 'cmis.workflows.instance-started',
      data: { ...this.ref, entry: input.entry, causeId: input.causeId },
      ...(input.event ? { entryEvent: eventView(input.event) } : {}),
    });
    this.state = {
      ...evolve(this.state, this.events[0]!),
      stepId: definition.start,
      visits: { [definition.start]: 1 },
    };
    this.runFrom(input.at);
  }

  private timer(input: Extract<EngineInput, { kind: 'timer' }>) {
    const w = this.state.waiting;
    if (!w || w.stepId !== input.stepId || w.visit !== input.visit) {
      this.decisions.push({
        stepId: input.stepId,
        kind: 'timer',
        outcome: 'stale',
        inputs: { visit: input.visit },
      });
      return;
    }
    const step = this.step(w.stepId);
    if (input.purpose === 'retry') {
      this.runFrom(input.at, { retrying: true });
      return;
    }
    if (step.kind === 'delay') {
      this.complete(step, 'elapsed', step.next, {});
      this.runFrom(input.at);
      return;
    }
    if (step.kind === 'wait_event') {
      this.effects.push({ kind: 'clear-wait' });
      this.decisions.push({
        stepId: step.id,
        kind: 'wait_event',
        outcome: 'timed_out',
        inputs: { since: w.since, until: w.until },
      });
      this.complete(step, 'timed_out', step.timedOut, {});
      this.runFrom(input.at);
    }
  }

  private eventArrived(input: Extract<EngineInput, { kind: 'event' }>) {
    const w = this.state.waiting;
    if (!w || w.kind !== 'wait_event') return;
    const step = this.step(w.stepId) as Extract<Step, { kind: 'wait_event' }>;
    const at = input.event.at;
    // Judged by event time: at or after the wait began and not after its deadline.
    if (input.event.name !== step.event || at < w.since || (w.until !== undefined && at > w.until)) return;
    if (step.filter) {
      const verdict = this.ctx.workflow.test(`${step.id}.filter`, {
        ...this.condCtx(),
        event: eventView(input.event),
      });
      this.decisions.push({
        stepId: step.id,
        kind: 'wait_filter',
        outcome: verdict.outcome,
        inputs: { eventId: input.event.id, trace: verdict.trace },
      });
      if (verdict.outcome !== 'passed') return;
    }
    this.effects.push(
      { kind: 'clear-wait' },
      { kind: 'cancel-timer', timerId: timerIdOf(this.state.instanceId, step.id, w.visit, 'timeout') },
    );
    this.decisions.push({
      stepId: step.id,
      kind: 'wait_event',
      outcome: 'received',
      inputs: { eventId: input.event.id, eventAt: at, since: w.since },
    });
    this.complete(step, 'received', step.received, { event: eventView(input.event) });
    this.runFrom(input.at > at ? input.at : at);
  }

  private effectOutcome(input: Extract<EngineInput, { kind: 'effect' }>) {
    const w = this.state.waiting;
    if (!w || w.kind !== 'webhook' || w.stepId !== input.stepId || w.visit !== input.visit) return;
    const step = this.step(w.stepId);
    if (input.ok) {
      this.complete(step, 'delivered', 'next' in step ? step.next : undefined, input.detail ?? {});
      this.runFrom(input.at);
      return;
    }
    this.fail(step, input.at, input.reason ?? 'failed', input.permanent ?? false);
  }

  private operator(input: Extract<EngineInput, { kind: 'retry' | 'skip' }>) {
    const stepId = this.state.stepId;
    if (stepId === undefined) return;
    const step = this.step(stepId);
    if (this.state.waiting)
      this.effects.push({
        kind: 'cancel-timer',
        timerId: timerIdOf(this.state.instanceId, stepId, this.state.waiting.visit, 'retry'),
      });
    if (input.kind === 'retry') {
      this.decisions.push({ stepId, kind: 'operator', outcome: 'retried', inputs: {} });
      this.runFrom(input.at, { retrying: true });
    } else {
      this.decisions.push({ stepId, kind: 'operator', outcome: 'skipped', inputs: {} });
      this.complete(step, 'skipped', edgesOf(step)[0]?.next, {});
      this.runFrom(input.at);
    }
  }

  /** `ctx.workflow` is the new version: leave the current wait, move, and run from the mapped step. */
  private migrate(input: Extract<EngineInput, { kind: 'migrate' }>) {
    const w = this.state.waiting;
    const fromStepId = this.state.stepId ?? '';
    if (w) {
      this.effects.push({
        kind: 'cancel-timer',
        timerId: timerIdOf(
          this.state.instanceId,
          w.stepId,
          w.visit,
          w.kind === 'wait_event' ? 'timeout' : w.kind,
        ),
      });
      if (w.kind === 'wait_event') this.effects.push({ kind: 'clear-wait' });
    }
    const fromVersion = this.state.version;
    this.emit({
      type: 'cmis.workflows.instance-migrated',
      data: {
        ...this.ref,
        workflowVersion: this.ctx.workflow.version,
        fromVersion,
        fromStepId,
        toStepId: input.toStepId,
      },
    });
    this.decisions.push({
      stepId: input.toStepId,
      kind: 'migration',
      outcome: 'moved',
      inputs: { fromVersion, fromStepId },
    });
    this.runFrom(input.at);
  }

  /** A failed attempt: retried with backoff up to the limit, then the instance fails with the reason. */
  private fail(step: Step, at: string, reason: string, permanent: boolean) {
    const retry = this.ctx.retry ?? this.ctx.workflow.definition.retry;
    const attempt = this.state.attempts + 1;
    const visit = this.state.visits[step.id] ?? 1;
    if (permanent || attempt >= retry.maxAttempts) {
      this.emit({
        type: 'cmis.workflows.step-failed',
        data: { ...this.ref, stepId: step.id, attempt, reason },
      });
      this.end('failed', at, { reason: `step ${step.id}: ${reason}` });
      return;
    }
    const delay = Math.min(MAX_BACKOFF_MS, retry.baseSeconds * 1_000 * 2 ** (attempt - 1));
    const retryAt = new Date(Date.parse(at) + delay).toISOString();
    this.emit({
      type: 'cmis.workflows.step-failed',
      data: { ...this.ref, stepId: step.id, attempt, reason, retryAt },
    });
    this.wait(step, { kind: 'retry', stepId: step.id, visit, since: at, until: retryAt });
    this.effects.push({
      kind: 'schedule-timer',
      timerId: timerIdOf(this.state.instanceId, step.id, visit, 'retry'),
      dueAt: retryAt,
      stepId: step.id,
      visit,
      purpose: 'retry',
    });
  }

  private end(
    status: 'completed' | 'converted' | 'exited' | 'failed' | 'cancelled',
    _at: string,
    extra: { reason?: string; causeId?: string },
  ) {
    const w = this.state.waiting;
    if (w) {
      const purpose = w.kind === 'wait_event' ? 'timeout' : w.kind;
      if (w.kind !== 'webhook')
        this.effects.push({
          kind: 'cancel-timer',
          timerId: timerIdOf(this.state.instanceId, w.stepId, w.visit, purpose),
        });
      if (w.kind === 'wait_event') this.effects.push({ kind: 'clear-wait' });
    }
    this.decisions.push({ stepId: this.state.stepId, kind: 'end', outcome: status, inputs: { ...extra } });
    this.emit({
      type: 'cmis.workflows.instance-ended',
      data: {
        ...this.ref,
        status,
        ...(this.state.stepId ? { stepId: this.state.stepId } : {}),
        ...definedOnly(extra),
      },
    });
  }

  private step(id: string): Step {
    const step = this.ctx.workflow.steps.get(id);
    if (!step) throw new Error(`workflow ${this.state.workflowId} v${this.state.version} has no step ${id}`);
    return step;
  }

  private condCtx(): ConditionContext {
    return {
      event: this.state.entryEvent,
      ...(this.ctx.contact ? { contact: this.ctx.contact } : {}),
      steps: this.state.steps,
    };
  }

  private complete(
    step: Step,
    outcome: string,
    next: string | undefined,
    detail: Record<string, unknown>,
    effectId?: string,
  ) {
    this.emit({
      type: 'cmis.workflows.step-completed',
      data: {
        ...this.ref,
        stepId: step.id,
        stepKind: step.kind,
        outcome,
        ...(next !== undefined ? { next } : {}),
        ...(effectId !== undefined ? { effectId } : {}),
        ...(Object.keys(detail).length > 0 ? { detail } : {}),
      },
    });
    if (next === undefined) this.end('completed', '', {});
  }

  private wait(step: Step, waiting: Waiting) {
    this.emit({
      type: 'cmis.workflows.instance-waiting',
      data: {
        ...this.ref,
        stepId: step.id,
        stepKind: step.kind,
        ...(waiting.until ? { until: waiting.until } : {}),
        ...(waiting.event ? { eventName: waiting.event } : {}),
      },
      waiting,
    });
  }

  /** Runs from the current step until the instance waits or ends. */
  private runFrom(at: string, options: { retrying?: boolean } = {}) {
    let count = 0;
    // A retry runs the step it waits on again (same visit, so the same effect id).
    let resume = options.retrying ?? false;
    while (resume || (!this.ended && this.state.status !== 'waiting')) {
      resume = false;
      if (++count > MAX_STEPS_PER_INPUT) {
        this.end('failed', at, { reason: `more than ${MAX_STEPS_PER_INPUT} steps without a wait` });
        return;
      }
      const step = this.step(this.state.stepId!);
      const visit = this.state.visits[step.id] ?? 1;
      const effectId = effectIdOf(this.state.instanceId, step.id, visit);
      switch (step.kind) {
        case 'delay': {
          const until = this.delayEnd(step, at);
          if (until === undefined || until <= at) {
            this.complete(step, until === undefined ? 'no_date' : 'elapsed', step.next, {});
            break;
          }
          this.wait(step, { kind: 'delay', stepId: step.id, visit, since: at, until });
          this.effects.push({
            kind: 'schedule-timer',
            timerId: timerIdOf(this.state.instanceId, step.id, visit, 'delay'),
            dueAt: until,
            stepId: step.id,
            visit,
            purpose: 'delay',
          });
          break;
        }
        case 'wait_event': {
          const until = new Date(Date.parse(at) + durationMs(step.timeout)).toISOString();
          this.wait(step, {
            kind: 'wait_event',
            stepId: step.id,
            visit,
            since: at,
            until,
            event: step.event,
          });
          this.effects.push(
            { kind: 'register-wait', stepId: step.id, visit, event: step.event, since: at, until },
            {
              kind: 'schedule-timer',
              timerId: timerIdOf(this.state.instanceId, step.id, visit, 'timeout'),
              dueAt: until,
              stepId: step.id,
              visit,
              purpose: 'timeout',
            },
          );
          break;
        }
        case 'condition': {
          const verdict = this.ctx.workflow.test(step.id, this.condCtx());
          const outcome = verdict.outcome === 'passed' ? 'then' : 'else';
          this.decisions.push({
            stepId: step.id,
            kind: 'condition',
            outcome,
            inputs: { result: verdict.outcome, trace: verdict.trace },
          });
          this.complete(step, outcome, outcome === 'then' ? step.then : step.else, {
            result: verdict.outcome,
          });
          break;
        }
        case 'split': {
          const ctx = this.condCtx();
          const tried: { branch: string; result: string }[] = [];
          let taken: { name: string; next?: string | undefined } | undefined;
          for (const branch of step.branches) {
            const verdict = this.ctx.workflow.test(`${step.id}.${branch.name}`, ctx);
            tried.push({ branch: branch.name, result: verdict.outcome });
            if (verdict.outcome === 'passed') {
              taken = branch;
              break;
            }
          }
          const outcome = taken?.name ?? 'otherwise';
          this.decisions.push({ stepId: step.id, kind: 'split', outcome, inputs: { tried } });
          this.complete(step, outcome, taken ? taken.next : step.otherwise, {});
          break;
        }
        case 'random_split': {
          const bucket = stickyBucket(this.state.workflowId, this.state.contactId, step.id);
          const holdout = Math.round((step.holdoutPercent ?? 0) * 100);
          if (bucket < holdout) {
            this.decisions.push({
              stepId: step.id,
              kind: 'random_split',
              outcome: 'holdout',
              inputs: { bucket, holdoutPercent: step.holdoutPercent },
            });
            this.emit({
              type: 'cmis.workflows.step-completed',
              data: { ...this.ref, stepId: step.id, stepKind: step.kind, outcome: 'holdout' },
            });
            this.end('exited', at, { reason: 'holdout' });
            break;
          }
          if (step.allocation === 'bandit') {
            this.banditSplit(step, bucket, holdout);
            break;
          }
          const weights = step.branches.map((b): [string, number] => [b.name, b.weight]);
          const name = branchAt(bucket, holdout, weights);
          const branch = step.branches.find((b) => b.name === name)!;
          this.decisions.push({
            stepId: step.id,
            kind: 'random_split',
            outcome: branch.name,
            inputs: { bucket, weights },
          });
          this.complete(step, branch.name, branch.next, { branch: branch.name });
          break;
        }
        case 'send_email':
          this.effects.push({
            kind: 'send-email',
            stepId: step.id,
            idempotencyKey: `workflow:${effectId}`,
            step,
          });
          this.decisions.push({
            stepId: step.id,
            kind: 'send_email',
            outcome: 'requested',
            inputs: { templateId: step.templateId, idempotencyKey: `workflow:${effectId}` },
          });
          this.complete(
            step,
            'requested',
            step.next,
            { templateId: step.templateId },
            `workflow:${effectId}`,
          );
          break;
        case 'update_contact':
        case 'enroll_drip':
        case 'campaign_action':
          this.effects.push({ kind: 'request-action', stepId: step.id, actionId: effectId, step });
          this.complete(step, 'requested', step.next, {}, effectId);
          break;
        case 'webhook':
          this.effects.push({ kind: 'deliver-webhook', stepId: step.id, visit, deliveryId: effectId, step });
          this.wait(step, { kind: 'webhook', stepId: step.id, visit, since: at });
          break;
        case 'exit':
          this.emit({
            type: 'cmis.workflows.step-completed',
            data: { ...this.ref, stepId: step.id, stepKind: step.kind, outcome: 'exit' },
          });
          this.end('exited', at, { reason: step.reason ?? `exit step ${step.id}` });
          break;
      }
    }
  }

  /**
   * A bandit split: the branch at the contact's sticky bucket under the latest allocation's
   * weights. The event records the branch, the weights and their revision (analytics learns the
   * split's options from it); a later visit of this instance keeps the branch it recorded.
   */
  private banditSplit(step: Extract<Step, { kind: 'random_split' }>, bucket: number, holdout: number) {
    const options = banditOptionsOf(step);
    const recorded = this.state.steps[step.id];
    const kept =
      recorded?.allocation === 'bandit' && typeof recorded.branch === 'string'
        ? step.branches.find((b) => b.name === recorded.branch)
        : undefined;
    const { weights, from } = kept
      ? { weights: recorded!.weights as Record<string, number>, from: { source: 'recorded' } }
      : (() => {
          const chosen = splitWeights(step, this.ctx.allocations?.[step.id]);
          return { weights: Object.fromEntries(chosen.weights), from: chosen.from };
        })();
    // In branch order: an object's own key order puts integer-like names first.
    const ordered = step.branches.map((b): [string, number] => [b.name, weights[b.name] ?? 0]);
    const branch = kept ?? step.branches.find((b) => b.name === branchAt(bucket, holdout, ordered))!;
    const revision = 'revision' in from ? from.revision : undefined;
    this.decisions.push({
      stepId: step.id,
      kind: 'random_split',
      outcome: branch.name,
      inputs: { bucket, allocation: 'bandit', weights, ...from },
    });
    this.complete(step, branch.name, branch.next, {
      branch: branch.name,
      allocation: 'bandit',
      metric: options.metric,
      explorationShare: options.explorationShare,
      variants: step.branches.map((b) => b.name),
      weights,
      ...(revision !== undefined ? { allocationRevision: revision } : {}),
    });
  }

  /** When a delay ends: an ISO instant, or undefined when the date it reads is missing. */
  private delayEnd(step: Extract<Step, { kind: 'delay' }>, at: string): string | undefined {
    if (step.duration) return new Date(Date.parse(at) + durationMs(step.duration)).toISOString();
    if (step.untilTimeOfDay) {
      const zone =
        (typeof this.ctx.contact?.timeZone === 'string' ? this.ctx.contact.timeZone : undefined) ??
        (typeof this.ctx.contact?.timezone === 'string' ? this.ctx.contact.timezone : undefined) ??
        step.untilTimeOfDay.timeZone ??
        this.ctx.workflow.definition.timeZone ??
        'UTC';
      return nextTimeOfDay(new Date(at), step.untilTimeOfDay.time, zone).toISOString();
    }
    const { field, offset } = step.untilField!;
    const value = readField(this.condCtx(), field);
    const ms =
      typeof value === 'string' || typeof value === 'number' ? new Date(value).getTime() : Number.NaN;
    if (Number.isNaN(ms)) {
      this.decisions.push({ stepId: step.id, kind: 'delay', outcome: 'no_date', inputs: { field, value } });
      return undefined;
    }
    return new Date(ms + (offset ? durationMs(offset) : 0)).toISOString();
  }
}

/** What conditions read as event.*: the track call's name, properties and context. */
export function eventView(event: TrackedEvent): Record<string, unknown> {
  return { ...event.data, name: event.name, timestamp: event.at };
}

function readField(ctx: ConditionContext, field: string): unknown {
  const [root, ...path] = field.split('.');
  let value: unknown =
    root === 'event'
      ? ctx.event
      : root === 'contact'
        ? ctx.contact
        : root === 'steps'
          ? ctx.steps
          : undefined;
  for (const key of path) {
    if (value === null || typeof value !== 'object' || !Object.prototype.hasOwnProperty.call(value, key))
      return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function definedOnly<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
