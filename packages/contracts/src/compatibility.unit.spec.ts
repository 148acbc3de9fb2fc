import { checkBackwardCompatibility, isBackwardCompatible, type CompatibilityIssue } from './compatibility';

type Schema = { [keyword: string]: unknown };
const object = (properties: Schema, required: string[], extra: Schema = {}): Schema => ({
  type: 'object',
  properties,
  required,
  ...extra,
});
const closed = (properties: Schema, required: string[]): Schema =>
  object(properties, required, { additionalProperties: false });
const event = (type: string, data: Schema): Schema =>
  closed({ type: { type: 'string', const: type }, data }, ['type', 'data']);
const summary = (issues: CompatibilityIssue[]) => issues.map(({ kind, path }) => ({ kind, path }));

describe('checkBackwardCompatibility: changes readers can take', () => {
  it.each<[string, Schema, Schema]>([
    ['the same schema', closed({ a: { type: 'string' } }, ['a']), closed({ a: { type: 'string' } }, ['a'])],
    [
      'an optional property added to a closed object',
      closed({ a: { type: 'string' } }, ['a']),
      closed({ a: { type: 'string' }, b: { type: 'number' } }, ['a']),
    ],
    [
      'a required property made optional',
      closed({ a: { type: 'string' } }, ['a']),
      closed({ a: { type: 'string' } }, []),
    ],
    [
      'a property removed from an open object',
      object({ a: { type: 'string' }, b: { type: 'string' } }, ['a']),
      object({ a: { type: 'string' } }, ['a']),
    ],
    ['null allowed', object({ a: { type: 'string' } }, []), object({ a: { type: ['string', 'null'] } }, [])],
    [
      'integer widened to number',
      object({ a: { type: 'integer' } }, []),
      object({ a: { type: 'number' } }, []),
    ],
    [
      'an enum value added',
      object({ a: { type: 'string', enum: ['x'] } }, []),
      object({ a: { type: 'string', enum: ['x', 'y'] } }, []),
    ],
    [
      'a maxLength raised',
      object({ a: { type: 'string', maxLength: 5 } }, []),
      object({ a: { type: 'string', maxLength: 9 } }, []),
    ],
    [
      'additional properties opened',
      closed({ a: { type: 'string' } }, []),
      object({ a: { type: 'string' } }, []),
    ],
    [
      'an event type added to the union',
      { anyOf: [event('t.a', closed({}, []))] },
      { anyOf: [event('t.a', closed({}, [])), event('t.b', closed({ x: { type: 'string' } }, ['x']))] },
    ],
    [
      'nullable string read by a nullable union',
      object({ a: { type: ['string', 'null'] } }, []),
      object({ a: { anyOf: [{ type: 'string', minLength: 0 }, { type: 'null' }] } }, []),
    ],
    [
      'descriptions changed',
      object({ a: { type: 'string', description: 'old' } }, []),
      object({ a: { type: 'string', description: 'new' } }, []),
    ],
  ])('accepts %s', (_, previous, next) => {
    expect(checkBackwardCompatibility(previous, next)).toEqual([]);
    expect(isBackwardCompatible(previous, next)).toBe(true);
  });
});

describe('checkBackwardCompatibility: changes that break readers', () => {
  it.each<[string, Schema, Schema, Array<{ kind: string; path: string }>]>([
    [
      'a property newly required',
      closed({ a: { type: 'string' } }, ['a']),
      closed({ a: { type: 'string' }, b: { type: 'string' } }, ['a', 'b']),
      [{ kind: 'property-newly-required', path: '/properties/b' }],
    ],
    [
      'a type narrowed (null no longer accepted)',
      object({ a: { type: ['string', 'null'] } }, []),
      object({ a: { type: 'string' } }, []),
      [{ kind: 'type-narrowed', path: '/properties/a' }],
    ],
    [
      'number narrowed to integer',
      object({ a: { type: 'number' } }, []),
      object({ a: { type: 'integer' } }, []),
      [{ kind: 'type-narrowed', path: '/properties/a' }],
    ],
    [
      "a property's type changed",
      object({ a: { type: 'string' } }, []),
      object({ a: { type: 'number' } }, []),
      [{ kind: 'type-changed', path: '/properties/a' }],
    ],
    [
      'an enum value removed',
      object({ a: { type: 'string', enum: ['x', 'y'] } }, []),
      object({ a: { type: 'string', enum: ['x'] } }, []),
      [{ kind: 'enum-value-removed', path: '/properties/a' }],
    ],
    [
      'an enum put on a free value',
      object({ a: { type: 'string' } }, []),
      object({ a: { type: 'string', enum: ['x'] } }, []),
      [{ kind: 'enum-added', path: '/properties/a' }],
    ],
    [
      'a const changed',
      object({ a: { const: 'x' } }, []),
      object({ a: { const: 'y' } }, []),
      [{ kind: 'const-changed', path: '/properties/a' }],
    ],
    [
      'additionalProperties closed',
      object({ a: { type: 'string' } }, []),
      closed({ a: { type: 'string' } }, []),
      [{ kind: 'additional-properties-closed', path: '/additionalProperties' }],
    ],
    [
      'a property removed from a closed object',
      closed({ a: { type: 'string' }, b: { type: 'string' } }, []),
      closed({ a: { type: 'string' } }, []),
      [{ kind: 'property-removed-from-closed-content-model', path: '/properties/b' }],
    ],
    [
      'a constrained property added to an open object',
      object({ a: { type: 'string' } }, []),
      object({ a: { type: 'string' }, b: { type: 'string' } }, []),
      [{ kind: 'property-added-to-open-content-model', path: '/properties/b' }],
    ],
    [
      'a maxLength lowered',
      object({ a: { type: 'string', maxLength: 9 } }, []),
      object({ a: { type: 'string', maxLength: 5 } }, []),
      [{ kind: 'constraint-tightened', path: '/properties/a/maxLength' }],
    ],
    [
      'a minimum raised',
      object({ a: { type: 'number', minimum: 0 } }, []),
      object({ a: { type: 'number', exclusiveMinimum: 0 } }, []),
      [{ kind: 'constraint-tightened', path: '/properties/a/exclusiveMinimum' }],
    ],
    [
      'a format put on a string',
      object({ a: { type: 'string' } }, []),
      object({ a: { type: 'string', format: 'uuid' } }, []),
      [{ kind: 'constraint-tightened', path: '/properties/a/format' }],
    ],
    [
      'array items narrowed',
      object({ a: { type: 'array', items: { type: ['string', 'number'] } } }, []),
      object({ a: { type: 'array', items: { type: 'string' }, minItems: 1 } }, []),
      [
        { kind: 'type-narrowed', path: '/properties/a/items' },
        { kind: 'constraint-tightened', path: '/properties/a/minItems' },
      ],
    ],
    [
      'an event type removed from the union',
      { anyOf: [event('t.a', closed({}, [])), event('t.b', closed({}, []))] },
      { anyOf: [event('t.a', closed({}, []))] },
      [{ kind: 'union-branch-removed', path: '/anyOf/1' }],
    ],
    [
      'a property newly required inside one event type of the union',
      { anyOf: [event('t.a', closed({}, [])), event('t.b', closed({}, []))] },
      { anyOf: [event('t.b', closed({}, [])), event('t.a', closed({ x: { type: 'string' } }, ['x']))] },
      [{ kind: 'property-newly-required', path: '/anyOf/1/properties/data/properties/x' }],
    ],
    [
      'a change the checker cannot reason about',
      object({ a: { allOf: [{ type: 'string' }] } }, []),
      object({ a: { allOf: [{ type: 'string', minLength: 2 }] } }, []),
      [{ kind: 'unsupported-change', path: '/properties/a/allOf' }],
    ],
  ])('reports %s with its path', (_, previous, next, expected) => {
    expect(summary(checkBackwardCompatibility(previous, next))).toEqual(expected);
    expect(isBackwardCompatible(previous, next)).toBe(false);
  });

  it('follows local $refs', () => {
    const previous = {
      definitions: { name: { type: 'string' } },
      ...object({ a: { $ref: '#/definitions/name' } }, []),
    };
    const next = {
      definitions: { name: { type: 'number' } },
      ...object({ a: { $ref: '#/definitions/name' } }, []),
    };
    expect(summary(checkBackwardCompatibility(previous, next))).toEqual([
      { kind: 'type-changed', path: '/properties/a' },
    ]);
  });

  it('explains each issue', () => {
    const [found] = checkBackwardCompatibility(
      object({ a: { type: 'string' } }, []),
      object({ a: { type: 'number' } }, []),
    );
    expect(found?.message).toBe('type string became number');
  });
});
