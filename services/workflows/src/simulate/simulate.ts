// Runs a workflow for one contact on a virtual clock, with no I/O: the same engine as the service,
// fed the contact's timed events and its own timers in time order. Simulation (a draft, a sample
// contact, events) and backtests (each recorded contact's events) both run through it.
import {
  advance,
  emptyState,
  ENDED,
  eventView,
  type CompiledWorkflow,
  type Decision,
  type EngineInput,
  type InstanceState,
  type TrackedEvent,
} from '../instances/engine';

export interface SimulatedMessage {
  at: string;
  stepId: string;
  templateId: string;
  idempotencyKey: string;
}

export interface SimulationResult {
  entered: boolean;
  status?: InstanceState['status'];
  path: { at: string; stepId: string; outcome: string }[];
  messages: SimulatedMessage[];
  actions: { at: string; stepId: string; kind: string }[];
  decisions: (Decision & { at: string })[];
  endedAt?: string;
}

/** Longest a simulation runs past its last event (pending timers beyond are reported as waiting). */
const HORIZON_MS = 400 * 86_400_000;

export function simulate(
  workflow: CompiledWorkflow,
  input: { contactId: string; contact?: Record<string, unknown>; events: TrackedEvent[]; until?: string },
): SimulationResult {
  const events = [...input.events].sort((a, b) => a.at.localeCompare(b.at));
  const result: SimulationResult = { entered: false, path: [], messages: [], actions: [], decisions: [] };
  const timers = new Map<string, { dueAt: string; input: EngineInput }>();
  const seen: TrackedEvent[] = [];
  let state: InstanceState | undefined;
  const horizon =
    input.until ??
    new Date(Date.parse(events.at(-1)?.at ?? new Date(0).toISOString()) + HORIZON_MS).toISOString();
  const ctx = { workflow, ...(input.contact ? { contact: input.contact } : {}) };

  const feed = (engineInput: EngineInput) => {
    const r = advance(state!, engineInput, ctx);
    state = r.state;
    const at = engineInput.at;
    result.decisions.push(...r.decisions.map((d) => ({ ...d, at })));
    for (const e of r.events) {
      if (e.type === 'cmis.workflows.step-completed')
        result.path.push({ at, stepId: e.data.stepId, outcome: e.data.outcome });
      if (e.type === 'cmis.workflows.instance-ended') result.endedAt = at;
    }
    for (const effect of r.effects) {
      if (effect.kind === 'schedule-timer')
        timers.set(effect.timerId, {
          dueAt: effect.dueAt,
          input: {
            kind: 'timer',
            at: effect.dueAt,
            stepId: effect.stepId,
            visit: effect.visit,
            purpose: effect.purpose,
          },
        });
      if (effect.kind === 'cancel-timer') timers.delete(effect.timerId);
      if (effect.kind === 'send-email')
        result.messages.push({
          at,
          stepId: effect.stepId,
          templateId: effect.step.templateId,
          idempotencyKey: effect.idempotencyKey,
        });
      if (effect.kind === 'request-action')
        result.actions.push({ at, stepId: effect.stepId, kind: effect.step.kind });
      // A simulated webhook succeeds at once.
      if (effect.kind === 'deliver-webhook')
        timers.set(`hook:${effect.deliveryId}`, {
          dueAt: at,
          input: { kind: 'effect', at, stepId: effect.stepId, visit: effect.visit, ok: true },
        });
      if (effect.kind === 'register-wait') {
        const earlier = seen.find(
          (e) => e.name === effect.event && e.at >= effect.since && e.at <= effect.until,
        );
        if (earlier)
          timers.set(`lookback:${effect.stepId}:${effect.visit}`, {
            dueAt: at,
            input: { kind: 'event', at, event: earlier },
          });
      }
    }
  };

  let i = 0;
  for (;;) {
    const nextTimer = [...timers.entries()].sort((a, b) => a[1].dueAt.localeCompare(b[1].dueAt))[0];
    const nextEvent = events[i];
    if (!nextEvent && (!nextTimer || nextTimer[1].dueAt > horizon)) break;
    if (nextTimer && (!nextEvent || nextTimer[1].dueAt <= nextEvent.at) && nextTimer[1].dueAt <= horizon) {
      timers.delete(nextTimer[0]);
      if (state && !ENDED.has(state.status)) feed(nextTimer[1].input);
      continue;
    }
    if (!nextEvent) break;
    i++;
    seen.push(nextEvent);
    if (!state) {
      const entry = workflow.definition.entry;
      if (entry.event !== nextEvent.name) continue;
      if (
        entry.filter &&
        workflow.test('entry', {
          event: eventView(nextEvent),
          ...(input.contact ? { contact: input.contact } : {}),
        }).outcome !== 'passed'
      ) {
        result.decisions.push({
          kind: 'entry',
          outcome: 'not_entered',
          inputs: { reason: 'entry filter', eventId: nextEvent.id },
          at: nextEvent.at,
        });
        continue;
      }
      state = emptyState({
        instanceId: `simulated:${input.contactId}`,
        workflowId: workflow.workflowId,
        version: workflow.version,
        contactId: input.contactId,
      });
      result.entered = true;
      feed({ kind: 'start', at: nextEvent.at, entry: 'event', causeId: nextEvent.id, event: nextEvent });
      continue;
    }
    if (ENDED.has(state.status)) continue;
    const view = { event: eventView(nextEvent) };
    const goal = workflow.definition.goals.findIndex(
      (g, k) =>
        g.event === nextEvent.name && (!g.filter || workflow.test(`goal.${k}`, view).outcome === 'passed'),
    );
    if (goal >= 0) {
      feed({ kind: 'goal', at: nextEvent.at, causeId: nextEvent.id, name: nextEvent.name });
      continue;
    }
    const exit = workflow.definition.exits.findIndex(
      (g, k) =>
        g.event === nextEvent.name && (!g.filter || workflow.test(`exit.${k}`, view).outcome === 'passed'),
    );
    if (exit >= 0) {
      feed({ kind: 'exit', at: nextEvent.at, causeId: nextEvent.id, reason: `exit event ${nextEvent.name}` });
      continue;
    }
    feed({ kind: 'event', at: nextEvent.at, event: nextEvent });
  }
  if (state) result.status = state.status;
  return result;
}

export interface BacktestTotals {
  contacts: number;
  entered: number;
  converted: number;
  exited: number;
  completed: number;
  stillRunning: number;
  messages: Record<string, number>;
}

/** Adds one contact's simulation to the totals. */
export function addToTotals(totals: BacktestTotals, r: SimulationResult): void {
  totals.contacts += 1;
  if (!r.entered) return;
  totals.entered += 1;
  if (r.status === 'converted') totals.converted += 1;
  else if (r.status === 'exited') totals.exited += 1;
  else if (r.status === 'completed') totals.completed += 1;
  else totals.stillRunning += 1;
  for (const m of r.messages) totals.messages[m.stepId] = (totals.messages[m.stepId] ?? 0) + 1;
}
