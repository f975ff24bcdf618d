import { describe, expect, it } from 'vitest';
import { optionalMs, toMs } from './duration.js';

describe('toMs', () => {
  it('takes a number as milliseconds, rounded to an integer', () => {
    expect(toMs(0)).toBe(0);
    expect(toMs(250)).toBe(250);
    expect(toMs(1.6)).toBe(2);
  });

  it.each([
    ['100ms', 100],
    ['1.5s', 1500],
    ['10m', 600_000],
    ['2 minutes', 120_000],
    ['7 days', 604_800_000],
    ['1h', 3_600_000],
    ['3 hours', 10_800_000],
    ['1w', 604_800_000],
    ['42', 42],
    ['  5 SEC  ', 5000],
  ])('parses %j as %d ms', (input, expected) => {
    expect(toMs(input)).toBe(expected);
  });

  it('rejects a string that is not a duration, naming the accepted forms', () => {
    expect(() => toMs('abc')).toThrow(TypeError);
    expect(() => toMs('abc')).toThrow(/invalid duration "abc": use milliseconds or a string like '100ms'/);
    expect(() => toMs('')).toThrow(/invalid duration ""/);
    expect(() => toMs('-5s')).toThrow(/invalid duration "-5s"/);
  });

  it('rejects an unknown unit', () => {
    expect(() => toMs('5 fortnights')).toThrow(TypeError);
    expect(() => toMs('5 fortnights')).toThrow(/invalid duration "5 fortnights".*'7 days'/);
  });

  it('rejects negative and non-finite numbers', () => {
    expect(() => toMs(-1)).toThrow(TypeError);
    expect(() => toMs(-1)).toThrow('invalid duration -1: use a non-negative number of milliseconds');
    expect(() => toMs(Number.NaN)).toThrow(/invalid duration NaN/);
    expect(() => toMs(Number.POSITIVE_INFINITY)).toThrow(/invalid duration Infinity/);
  });
});

describe('optionalMs', () => {
  it('passes undefined through and converts anything else', () => {
    expect(optionalMs(undefined)).toBeUndefined();
    expect(optionalMs('2s')).toBe(2000);
    expect(() => optionalMs('soon')).toThrow(TypeError);
  });
});
