import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { TidewayApiError } from '../protocol/index.js';
import { markChecked, parseRequest } from './parse.js';

const Schema = z.object({ n: z.number().int(), tag: z.string().default('none') });
const Other = z.object({ n: z.number() });

describe('parseRequest', () => {
  test('checks a request and fills its defaults', () => {
    expect(parseRequest(Schema, { n: 1 }, 'thing')).toEqual({ n: 1, tag: 'none' });
    expect(() => parseRequest(Schema, { n: 'one' }, 'thing')).toThrow(TidewayApiError);
    expect(() => parseRequest(Schema, { n: 'one' }, 'thing')).toThrow(/invalid thing: n: /);
  });

  test('returns a request a transport already checked with the same schema as it is', () => {
    const checked = Schema.parse({ n: 2 });
    markChecked(Schema, checked);
    expect(parseRequest(Schema, checked, 'thing')).toBe(checked);
  });

  test('checks again what was checked with another schema', () => {
    const value = { n: 2.5 };
    markChecked(Other, value);
    expect(() => parseRequest(Schema, value, 'thing')).toThrow(/invalid thing: n: /);
  });
});
