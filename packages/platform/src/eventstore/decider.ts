// Pure: the shape of an aggregate's domain logic. No I/O here; time and ids come in with commands.
import type { Message } from './types';

/**
 * `decide` turns a command into events against the current state (or throws a domain error);
 * `evolve` applies one event to the state; `initialState` is the state of an empty stream.
 */
export type Decider<State, Command extends Message, Event extends Message> = {
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event): State;
  initialState(): State;
};

/** The part of a decider that folds events into state. */
export type Evolver<State, Event extends Message> = Pick<
  Decider<State, never, Event>,
  'evolve' | 'initialState'
>;

export function evolveAll<State, Event extends Message>(
  evolver: Evolver<State, Event>,
  events: readonly Event[],
): State {
  return events.reduce((state, event) => evolver.evolve(state, event), evolver.initialState());
}
