import { isDeepStrictEqual } from 'node:util';
import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { fastParseStats, fastSafeParse } from './fast-parse.js';
import * as protocol from './index.js';

type AnySchema = any;

/** Every schema the protocol exports. */
const schemas = (Object.entries(protocol) as [string, unknown][]).filter(
  (entry): entry is [string, z.ZodType] =>
    entry[0].endsWith('Schema') && typeof (entry[1] as AnySchema)?.safeParse === 'function',
);

/** A small seeded generator, so a failure can be replayed. */
function random(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    chance: (p: number) => next() < p,
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
  };
}
type Random = ReturnType<typeof random>;

function lengthBounds(checks: AnySchema[] = []): [number, number] {
  let min = 0;
  let max = Number.POSITIVE_INFINITY;
  for (const c of checks.map((check) => check._zod.def)) {
    if (c.check === 'min_length') min = c.minimum;
    if (c.check === 'max_length') max = c.maximum;
  }
  return [min, max];
}

const ANYTHING = [1, 'x', null, true, { a: [1, { b: 2 }] }, [1, 'two'], 0.5, 'é✓'];

/** A value the schema should accept (sometimes not quite: a sample of a deep cause chain stops early). */
function sample(schema: AnySchema, r: Random, depth = 0): unknown {
  const def = schema._zod.def;
  switch (def.type) {
    case 'string': {
      const [min, max] = lengthBounds(def.checks);
      const length = min + r.int(Math.min(max, min + 6) - min + 1);
      return Array.from({ length }, () => r.pick(['a', 'Z', '7', ' ', 'é', '✓', '-'])).join('');
    }
    case 'number': {
      let lower = -1000;
      let upper = 1000;
      let integer = false;
      for (const c of (def.checks ?? []).map((check: AnySchema) => check._zod.def)) {
        if (c.check === 'number_format') integer = true;
        if (c.check === 'greater_than') lower = c.value + (c.inclusive ? 0 : 1);
        if (c.check === 'less_than') upper = c.value - (c.inclusive ? 0 : 1);
      }
      upper = Math.min(upper, lower + 5000);
      const value = lower + r.next() * (upper - lower);
      return integer || r.chance(0.5) ? Math.round(value) : value;
    }
    case 'boolean':
      return r.chance(0.5);
    case 'literal':
    case 'enum':
      return r.pick([...schema._zod.values]);
    case 'unknown':
    case 'any':
      return r.pick(ANYTHING);
    case 'array': {
      const [min, max] = lengthBounds(def.checks);
      const length = min + r.int(Math.min(max, min + 3) - min + 1);
      return Array.from({ length }, () => sample(def.element, r, depth + 1));
    }
    case 'optional':
    case 'default':
      return r.chance(0.3) ? undefined : sample(def.innerType, r, depth + 1);
    case 'nullable':
      return r.chance(0.2) ? null : sample(def.innerType, r, depth + 1);
    case 'lazy':
      return depth > 12 ? undefined : sample(schema._zod.innerType, r, depth + 1);
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [key, field] of Object.entries(def.shape)) {
        const value = sample(field, r, depth + 1);
        if (value === undefined && r.chance(0.5)) continue;
        out[key] = value;
      }
      return out;
    }
    case 'record': {
      const out: Record<string, unknown> = {};
      for (let i = r.int(3); i > 0; i--) out[`k${r.int(100)}`] = sample(def.valueType, r, depth + 1);
      return out;
    }
    case 'union':
      return sample(r.pick(def.options), r, depth + 1);
    case 'pipe':
      return sample(def.in, r, depth + 1);
    default:
      return r.pick(ANYTHING);
  }
}

const ODD_VALUES = [
  undefined,
  null,
  0,
  -1,
  1.5,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  2 ** 53,
  '',
  'x'.repeat(1001),
  'y'.repeat(40_000),
  true,
  [],
  [null],
  {},
  { type: 'NoSuchType' },
  new Date(0),
];

/** Places in a value where a change can go: [parent, key]. */
function places(value: unknown, into: [Record<string, unknown> | unknown[], string | number][] = []) {
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      into.push([value, i]);
      places(item, into);
    });
  } else if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
    for (const [key, item] of Object.entries(value)) {
      into.push([value as Record<string, unknown>, key]);
      places(item, into);
    }
  }
  return into;
}

/** The valid value with one thing wrong (or odd but maybe still valid): each kind of change zod must judge. */
function mutate(valid: unknown, r: Random): unknown {
  const value = structuredClone(valid);
  const spots = places(value);
  if (spots.length === 0 || r.chance(0.1)) return r.pick(ODD_VALUES);
  const [parent, key] = r.pick(spots);
  const change = r.int(5);
  if (change === 0 && !Array.isArray(parent)) delete parent[key as string];
  else if (change === 1) (parent as Record<string, unknown>)[key as string] = undefined;
  else if (change === 2 && typeof parent[key as never] === 'object' && parent[key as never] !== null) {
    const target = parent[key as never] as Record<string, unknown>;
    if (r.chance(0.5)) target.unknownKey = 1;
    // An own key named __proto__, as JSON.parse makes one.
    else Object.defineProperty(target, '__proto__', { value: 1, enumerable: true, configurable: true, writable: true });
  } else (parent as Record<string, unknown>)[key as string] = r.pick(ODD_VALUES);
  return value;
}

/** Equal as zod's output: same values, same keys present (even with undefined), same key order. */
function sameOutput(a: unknown, b: unknown): boolean {
  const ordered = (x: unknown) =>
    JSON.stringify(x, (_k, v) => (v === undefined ? '<undefined>' : typeof v === 'number' ? String(v) : v));
  return isDeepStrictEqual(a, b) && ordered(a) === ordered(b);
}

/** Compares on two copies of the value when `value` makes them (a getter may change its object when read). */
function expectSameAsZod(schema: z.ZodType, value: unknown, what: string) {
  const make = value instanceof Fresh ? value.make : () => value;
  const expected = schema.safeParse(make());
  const actual = fastSafeParse(schema, make());
  const context = `${what}: ${JSON.stringify(make())?.slice(0, 300)}`;
  expect(actual.success, context).toBe(expected.success);
  if (expected.success && actual.success) expect(sameOutput(actual.data, expected.data), context).toBe(true);
  if (!expected.success && !actual.success) expect(actual.error.issues, context).toEqual(expected.error.issues);
}

/** A value made anew for each parse. */
class Fresh {
  constructor(readonly make: () => unknown) {}
}

describe('fastSafeParse', () => {
  test('the protocol exports schemas to check against', () => {
    expect(schemas.length).toBeGreaterThan(40);
  });

  test('accepts exactly what zod accepts, with the same output, for samples of every protocol schema', () => {
    const r = random(20261122);
    for (const [name, schema] of schemas) {
      for (let i = 0; i < 60; i++) expectSameAsZod(schema, sample(schema, r), name);
    }
  });

  test('rejects what zod rejects, with zod’s own issues, for every kind of change to a valid value', () => {
    const r = random(7);
    for (const [name, schema] of schemas) {
      for (let i = 0; i < 150; i++) expectSameAsZod(schema, mutate(sample(schema, r), r), name);
    }
  });

  test('valid requests on the hot paths are accepted without zod', () => {
    const r = random(99);
    const hot = [
      protocol.StartWorkflowRequestSchema,
      protocol.PollRequestSchema,
      protocol.CompleteWorkflowTaskRequestSchema,
      protocol.CompleteActivityTaskRequestSchema,
    ];
    let accepted = 0;
    for (const schema of hot) {
      for (let i = 0; i < 100; i++) {
        const value = sample(schema, r);
        if (!schema.safeParse(value).success) continue;
        accepted++;
        const before = fastParseStats.zodDecided;
        expect(fastSafeParse(schema, value).success).toBe(true);
        expect(fastParseStats.zodDecided, JSON.stringify(value)).toBe(before);
      }
    }
    expect(accepted).toBeGreaterThan(200);
  });

  test('hand-made schemas for each branch agree with zod on unusual inputs', () => {
    const withGetter = (value: unknown, once: boolean) => {
      const object: Record<string, unknown> = { type: 'Error' };
      Object.defineProperty(object, 'message', {
        enumerable: true,
        configurable: true,
        get() {
          if (once) delete object.message;
          return value;
        },
      });
      return object;
    };
    class Box {
      a = 'x';
    }
    const inherited = Object.create({ a: 'from the prototype' });
    const bare = Object.assign(Object.create(null), { a: 'x' });
    const sparse: unknown[] = ['a'];
    sparse[2] = 'c';
    const shared = { message: 'm', type: 't' };
    const cases: [string, z.ZodType, unknown[]][] = [
      [
        'code points',
        z.object({ a: z.string().min(2).max(3) }),
        [{ a: '😀' }, { a: '😀😀' }, { a: '😀😀😀😀' }, { a: 'ab' }, { a: '\ud800' }, { a: '\ud800\ud800' }],
      ],
      ['exact optional', z.object({ a: z.string().exactOptional() }), [{}, { a: undefined }, { a: 'x' }]],
      [
        'optional default',
        z.object({ a: z.number().default(3).optional(), b: z.number().optional().default(4) }),
        [{}, { a: undefined, b: undefined }, { a: 1, b: 2 }],
      ],
      [
        'nullable',
        z.object({ a: z.string().nullable(), b: z.string().nullable().optional() }),
        [{ a: null }, { a: 'x', b: null }, {}, { a: undefined }],
      ],
      ['record keys changed', z.record(z.string().toLowerCase(), z.number()), [{ A: 1 }, { a: 1 }]],
      ['record keys checked', z.record(z.string().max(2), z.number()), [{ ab: 1 }, { abc: 1 }]],
      [
        'record objects',
        z.record(z.string(), z.unknown()),
        [
          { constructor: () => 1 },
          { constructor: 'x' },
          bare,
          new Box(),
          { [Symbol('s')]: 1, a: 1 },
          JSON.parse('{"__proto__": 1, "a": 2}'),
        ],
      ],
      [
        'objects',
        z.object({ a: z.string() }),
        [inherited, bare, new Box(), [], JSON.parse('{"__proto__": {"a": 1}, "a": "x"}'), { a: 'x', extra: 1 }],
      ],
      [
        'getters',
        protocol.FailureSchema as z.ZodType,
        [new Fresh(() => withGetter('m', false)), new Fresh(() => withGetter(1, false))],
      ],
      ['arrays', z.array(z.string()).min(1).max(3), [sparse, ['a', 'b', 'c', 'd'], [], ['a', undefined]]],
      [
        'exact bounds',
        z.object({
          a: z.number().gt(0).lt(10),
          b: z
            .number()
            .int()
            .gte(0)
            .lte(2 ** 53 - 1),
        }),
        [
          { a: 0, b: 0 },
          { a: 10, b: 1 },
          { a: 9.99, b: 2 ** 53 - 1 },
          { a: 1e-9, b: 2 ** 53 },
          { a: 5, b: -0 },
          { a: 5, b: 1.5 },
        ],
      ],
      [
        'tags',
        protocol.CommandSchema as z.ZodType,
        [
          { type: 'StartTimer', timerId: 't', durationMs: 5 },
          { type: 'CancelTimer', timerId: 't', durationMs: 5 },
          { type: 'StartTimer' },
          { timerId: 't' },
          { type: undefined },
        ],
      ],
      ['shared objects', z.array(protocol.FailureSchema as z.ZodType), [[shared, shared]]],
    ];
    for (const [name, schema, values] of cases) for (const value of values) expectSameAsZod(schema, value, name);
    // A getter that deletes its key when read: zod reads the value first, then finds the key gone, and
    // rejects; so must this. (Rejected here, the value is read again by zod: its words may differ.)
    expect(fastSafeParse(protocol.FailureSchema as z.ZodType, withGetter('m', true)).success).toBe(false);
  });

  test('the input is left as it was, and what zod builds anew is new', () => {
    const r = random(3);
    for (const [name, schema] of schemas) {
      for (let i = 0; i < 20; i++) {
        const value = sample(schema, r);
        const before = structuredClone(value);
        const result = fastSafeParse(schema, value);
        expect(value, name).toEqual(before);
        if (result.success && typeof value === 'object' && value !== null) {
          const zodBuilt = schema.safeParse(structuredClone(value));
          if (zodBuilt.success && zodBuilt.data !== value) expect(result.data, name).not.toBe(value);
        }
      }
    }
  });

  test('a failure whose cause chain loops back on itself is left to zod, not followed forever', () => {
    const failure: Record<string, unknown> = { message: 'boom', type: 'Error' };
    failure.cause = failure;
    let expected: unknown;
    try {
      expected = protocol.FailureSchema.safeParse(failure).success;
    } catch (error) {
      expected = (error as Error).name;
    }
    let actual: unknown;
    try {
      actual = fastSafeParse(protocol.FailureSchema as z.ZodType, failure).success;
    } catch (error) {
      actual = (error as Error).name;
    }
    expect(actual).toBe(expected);
  });

  test('a deep but finite cause chain is parsed whole', () => {
    let failure: Record<string, unknown> = { message: 'root', type: 'Error' };
    for (let i = 0; i < 100; i++) failure = { message: `level ${i}`, type: 'Error', cause: failure };
    expectSameAsZod(protocol.FailureSchema as z.ZodType, failure, 'deep chain');
  });
});
