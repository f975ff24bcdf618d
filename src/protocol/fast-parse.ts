import type { z } from 'zod';

/*
 * A faster `safeParse` for the protocol's schemas: each schema is compiled
 * once into plain checks that accept a valid value and build the same output
 * zod would (unknown keys stripped, defaults filled in, keys in the schema's
 * order). Anything they do not accept goes to zod itself, which decides and
 * words the error, so errors are zod's. Kinds of schema the compiler does
 * not know (transforms, refinements, formats, plain unions) are checked by
 * zod in place, inside the compiled parent. One difference is allowed: where
 * an input object appears twice in a recursive schema's value, zod's output
 * shares one copy and this builds two equal ones (JSON never shares objects);
 * and a value zod is asked about after all is read twice, so getters that
 * change it when read may see zod word its error differently.
 *
 * Why: zod's general machinery touches much memory per node, so in the
 * server, where each request runs right after a wake-up, checking one cost
 * 40–100 µs (2–6 µs in a hot loop): 350–410 µs of the server's CPU per
 * one-activity workflow. The compiled checks take 15–30 µs a request there,
 * 140–145 µs a workflow.
 */

/** What a compiled check returns for a value it does not accept. */
const REJECT: unique symbol = Symbol('reject');
type Check = (value: unknown) => unknown;

/** Deep enough for any failure's cause chain a worker sends; deeper (or a cycle) is left to zod. */
const MAX_LAZY_DEPTH = 64;
let lazyDepth = 0;

const compiled = new WeakMap<object, Check>();

/** How often zod had to decide (a rejected or unusual value), for tests. */
export const fastParseStats = { fastAccepted: 0, zodDecided: 0 };

/** `schema.safeParse(value)`, with valid values accepted by the compiled checks. */
export function fastSafeParse<S extends z.ZodType>(schema: S, value: unknown): z.ZodSafeParseResult<z.output<S>> {
  lazyDepth = 0;
  const out = checkFor(schema)(value);
  if (out !== REJECT) {
    fastParseStats.fastAccepted++;
    return { success: true, data: out as z.output<S> };
  }
  fastParseStats.zodDecided++;
  return schema.safeParse(value);
}

type AnySchema = any;

function checkFor(schema: AnySchema): Check {
  const known = compiled.get(schema);
  if (known) return known;
  // A schema that contains itself (through a lazy) reaches this one while it compiles: forward to it.
  let target: Check | undefined;
  compiled.set(schema, (value) => target!(value));
  target = build(schema);
  compiled.set(schema, target);
  return target;
}

/** Zod checks it in place: for schemas the compiler does not know. */
function byZod(schema: AnySchema): Check {
  return (value) => {
    const result = schema.safeParse(value);
    return result.success ? result.data : REJECT;
  };
}

function build(schema: AnySchema): Check {
  const def = schema._zod.def;
  const checks: AnySchema[] = def.checks ?? [];
  // Coercion, formats (z.int(), z.uuid()) and checks on their own are zod's to apply.
  if (def.coerce || def.format !== undefined || def.check !== undefined) return byZod(schema);
  switch (def.type) {
    case 'string': {
      const bounds = lengthBounds(checks);
      if (!bounds) return byZod(schema);
      const [min, max] = bounds;
      // Zod counts a string's length in code points, one or two UTF-16 units each: a string within `max`
      // units is within it in code points (one over it in units is left to zod), and one of `min` units or
      // more has at least `min` code points once it has twice as many units, or is counted.
      return (v) =>
        typeof v === 'string' && v.length <= max && (v.length >= 2 * min || codePoints(v) >= min) ? v : REJECT;
    }
    case 'number':
      return numberCheck(schema, checks);
    case 'boolean':
      if (checks.length) return byZod(schema);
      return (v) => (typeof v === 'boolean' ? v : REJECT);
    case 'unknown':
    case 'any':
      if (checks.length) return byZod(schema);
      return (v) => v;
    case 'literal':
    case 'enum': {
      const values: Set<unknown> | undefined = schema._zod.values;
      if (!values || checks.length) return byZod(schema);
      return (v) => (values.has(v) ? v : REJECT);
    }
    case 'array':
      return arrayCheck(schema, checks);
    case 'optional':
      return optionalCheck(schema, checks);
    case 'nullable': {
      if (checks.length) return byZod(schema);
      const inner = checkFor(def.innerType);
      return (v) => (v === null ? null : inner(v));
    }
    case 'default': {
      if (checks.length) return byZod(schema);
      const inner = checkFor(def.innerType);
      return (v) => {
        if (v === undefined) return def.defaultValue;
        const out = inner(v);
        return out === undefined ? def.defaultValue : out;
      };
    }
    case 'lazy':
      return lazyCheck(schema, checks);
    case 'object':
      return objectCheck(schema, checks);
    case 'record':
      return recordCheck(schema, checks);
    case 'union':
      return discriminatedCheck(schema, checks);
    default:
      return byZod(schema);
  }
}

/** [min, max] of a string's or an array's length, or undefined for checks other than those. */
function lengthBounds(checks: AnySchema[]): [number, number] | undefined {
  let min = 0;
  let max = Number.POSITIVE_INFINITY;
  for (const check of checks) {
    const c = check._zod.def;
    if (c.check === 'min_length' && typeof c.minimum === 'number') min = Math.max(min, c.minimum);
    else if (c.check === 'max_length' && typeof c.maximum === 'number') max = Math.min(max, c.maximum);
    else return undefined;
  }
  return [min, max];
}

/** A string's length in code points, a surrogate pair counting once, as zod counts it. */
function codePoints(text: string): number {
  let count = text.length;
  for (let i = 0; i < text.length - 1; i++) {
    if ((text.charCodeAt(i) & 0xfc00) === 0xd800 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      count--;
      i++;
    }
  }
  return count;
}

function numberCheck(schema: AnySchema, checks: AnySchema[]): Check {
  let integer = false;
  let lower = Number.NEGATIVE_INFINITY;
  let lowerInclusive = true;
  let upper = Number.POSITIVE_INFINITY;
  let upperInclusive = true;
  for (const check of checks) {
    const c = check._zod.def;
    if (c.check === 'number_format' && c.format === 'safeint') integer = true;
    else if (c.check === 'greater_than' && typeof c.value === 'number' && !Number.isNaN(c.value) && c.value >= lower) {
      lowerInclusive = c.value === lower ? lowerInclusive && c.inclusive : c.inclusive;
      lower = c.value;
    } else if (c.check === 'less_than' && typeof c.value === 'number' && !Number.isNaN(c.value) && c.value <= upper) {
      upperInclusive = c.value === upper ? upperInclusive && c.inclusive : c.inclusive;
      upper = c.value;
    } else if (
      (c.check !== 'greater_than' && c.check !== 'less_than') ||
      typeof c.value !== 'number' ||
      Number.isNaN(c.value)
    )
      return byZod(schema);
  }
  return (v) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) return REJECT;
    if (integer && !Number.isSafeInteger(v)) return REJECT;
    if (lowerInclusive ? v < lower : v <= lower) return REJECT;
    if (upperInclusive ? v > upper : v >= upper) return REJECT;
    return v;
  };
}

function arrayCheck(schema: AnySchema, checks: AnySchema[]): Check {
  const bounds = lengthBounds(checks);
  if (!bounds) return byZod(schema);
  const [min, max] = bounds;
  const element = checkFor(schema._zod.def.element);
  return (v) => {
    if (!Array.isArray(v) || v.length < min || v.length > max) return REJECT;
    const out = new Array(v.length);
    for (let i = 0; i < v.length; i++) {
      const item = element(v[i]);
      if (item === REJECT) return REJECT;
      out[i] = item;
    }
    return out;
  };
}

function optionalCheck(schema: AnySchema, checks: AnySchema[]): Check {
  // An exact optional may be absent but never undefined: zod's to judge.
  if (checks.length || schema._zod.traits?.has('$ZodExactOptional')) return byZod(schema);
  const innerType = schema._zod.def.innerType;
  const inner = checkFor(innerType);
  // An optional default still fills in its default for an absent value (and yields undefined if it can't).
  const defaulted = innerType._zod.optin === 'defaulted';
  return (v) => {
    if (v !== undefined) return inner(v);
    if (!defaulted) return undefined;
    const out = inner(undefined);
    return out === REJECT ? undefined : out;
  };
}

function lazyCheck(schema: AnySchema, checks: AnySchema[]): Check {
  if (checks.length) return byZod(schema);
  let inner: Check | undefined;
  return (v) => {
    inner ??= checkFor(schema._zod.innerType);
    if (lazyDepth >= MAX_LAZY_DEPTH) return REJECT;
    lazyDepth++;
    const out = inner(v);
    lazyDepth--;
    return out;
  };
}

interface Field {
  key: string;
  check: Check;
  /** How zod treats the key's absence: see objectCheck. */
  optionalIn: boolean;
  optionalOut: boolean;
  defaulted: boolean;
  plainOptional: boolean;
}

/** Unknown keys are dropped; a key's absence is judged as zod judges it, by its schema's optin/optout. */
function objectCheck(schema: AnySchema, checks: AnySchema[]): Check {
  const def = schema._zod.def;
  if (def.catchall || checks.length) return byZod(schema);
  const shape = def.shape;
  if (Object.getOwnPropertySymbols(shape).length) return byZod(schema);
  let fields: Field[] | undefined;
  const fieldsOf = (): Field[] =>
    Object.keys(shape)
      .filter((key) => key !== '__proto__')
      .map((key) => {
        const field = shape[key];
        const optin = field._zod.optin;
        return {
          key,
          check: checkFor(field),
          optionalIn: optin !== undefined,
          optionalOut: field._zod.optout === 'optional',
          defaulted: optin === 'defaulted',
          plainOptional: optin === 'optional',
        };
      });
  return (v) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return REJECT;
    fields ??= fieldsOf();
    const input = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const field of fields) {
      // Read before asking whether it is there, in zod's order (a getter may change the answer).
      const value = field.check(input[field.key]);
      const present = field.key in input;
      if (!field.optionalIn) {
        // Required: it must be there and valid.
        if (value === REJECT || !present) return REJECT;
        out[field.key] = value;
      } else if (field.optionalOut) {
        // Optional in and out: an absent key's problems are ignored; an absent plain optional stays absent.
        if (value === REJECT) {
          if (present) return REJECT;
          continue;
        }
        if (field.plainOptional ? present : value !== undefined || present) out[field.key] = value;
      } else {
        // A default: always there in the output.
        if (value === REJECT) return REJECT;
        if (field.defaulted || value !== undefined || present) out[field.key] = value;
      }
    }
    return out;
  };
}

/** A record with plain string keys: every own key of a plain object, none special. */
function recordCheck(schema: AnySchema, checks: AnySchema[]): Check {
  const def = schema._zod.def;
  const keyType = def.keyType;
  if (checks.length || def.partial || keyType._zod.def.type !== 'string' || keyType._zod.values) return byZod(schema);
  const keyCheck = checkFor(keyType);
  const valueCheck = checkFor(def.valueType);
  return (v) => {
    if (typeof v !== 'object' || v === null) return REJECT;
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return REJECT;
    // Zod's test of a plain object also looks at its constructor.
    if (Object.hasOwn(v, 'constructor') || Object.getOwnPropertySymbols(v).length) return REJECT;
    const input = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(input)) {
      // A key the key schema would change (or reject) is zod's to handle.
      if (key === '__proto__' || keyCheck(key) !== key) return REJECT;
      const value = valueCheck(input[key]);
      if (value === REJECT) return REJECT;
      out[key] = value;
    }
    return out;
  };
}

/** A discriminated union: the option is chosen by the discriminator's value, as zod chooses it. */
function discriminatedCheck(schema: AnySchema, checks: AnySchema[]): Check {
  const def = schema._zod.def;
  const discriminator: string | undefined = def.discriminator;
  if (discriminator === undefined || def.unionFallback || checks.length) return byZod(schema);
  const byValue = new Map<unknown, AnySchema>();
  for (const option of def.options as AnySchema[]) {
    const values: Set<unknown> | undefined = option._zod.propValues?.[discriminator];
    if (!values) return byZod(schema);
    for (const value of values) {
      if (value === undefined) continue;
      // Two options for one value: zod's own choice is not copied here.
      if (byValue.has(value)) return byZod(schema);
      byValue.set(value, option);
    }
  }
  const options = new Map<unknown, Check>();
  return (v) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return REJECT;
    const tag = (v as Record<string, unknown>)[discriminator];
    let check = options.get(tag);
    if (!check) {
      const option = byValue.get(tag);
      if (!option) return REJECT;
      check = checkFor(option);
      options.set(tag, check);
    }
    return check(v);
  };
}
