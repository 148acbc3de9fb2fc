// Given/when/then specifications of a decider, for *.unit.spec.ts files:
//   const spec = DeciderSpecification.for(ruleSwitch);
//   spec.given([created]).when(enable).then([enabled]);
//   spec.given([]).when(enable).thenThrows(RuleNotFoundError);
// Mismatches throw node's AssertionError, which fails the surrounding test with a diff.
import { AssertionError, deepStrictEqual } from 'node:assert';
import { evolveAll, type Decider } from './decider';
import type { Message } from './types';

type ErrorClass<Err extends Error> = new (...args: never[]) => Err;

export type ThenStep<E> = {
  /** Asserts the events `decide` returns (deep, strict equality; order matters). */
  then(expected: E[]): void;
  /** Asserts that `decide` throws an error for which `check` holds. */
  thenThrows(check: (error: unknown) => boolean): void;
  /** Asserts that `decide` throws an instance of the class (and, optionally, that `check` holds). */
  thenThrows<Err extends Error>(errorClass: ErrorClass<Err>, check?: (error: Err) => boolean): void;
};

export type WhenStep<C, E> = { when(command: C): ThenStep<E> };
export type GivenStep<C, E> = { given(events: E[]): WhenStep<C, E> };

export const DeciderSpecification = {
  for<State, C extends Message, E extends Message>(decider: Decider<State, C, E>): GivenStep<C, E> {
    return {
      given: (events) => ({
        when: (command) => thenStep(() => decider.decide(command, evolveAll(decider, events))),
      }),
    };
  },
};

function thenStep<E>(decide: () => E[]): ThenStep<E> {
  return {
    then(expected: E[]) {
      // The step has a `then` method, so `await spec...when(c)` would call it as a thenable.
      if (!Array.isArray(expected)) {
        throw new TypeError('then(expected) takes the expected events; do not await a specification');
      }
      deepStrictEqual(decide(), expected, 'decide returned other events than expected');
    },
    thenThrows(
      classOrCheck: ErrorClass<Error> | ((error: unknown) => boolean),
      check?: (error: Error) => boolean,
    ) {
      let events: E[];
      try {
        events = decide();
      } catch (error) {
        if (isErrorClass(classOrCheck)) {
          if (!(error instanceof classOrCheck)) {
            throw new AssertionError({
              message: `expected decide to throw ${classOrCheck.name}, it threw ${describe(error)}`,
              actual: error,
              expected: classOrCheck,
            });
          }
          if (check && !check(error)) {
            throw new AssertionError({
              message: `the ${classOrCheck.name} thrown failed the check`,
              actual: error,
            });
          }
          return;
        }
        if (!classOrCheck(error)) {
          throw new AssertionError({
            message: `the error thrown failed the check: ${describe(error)}`,
            actual: error,
          });
        }
        return;
      }
      throw new AssertionError({ message: 'expected decide to throw, it returned events', actual: events });
    },
  } as ThenStep<E>;
}

function isErrorClass(value: unknown): value is ErrorClass<Error> {
  return typeof value === 'function' && (value === Error || value.prototype instanceof Error);
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
