import { expect, test } from 'vitest';
import { inlineParameters } from './batched-transaction.js';

test('parameters become escaped literals; placeholders inside quotes are left alone', () => {
  expect(inlineParameters('SELECT $1, $2, $10', ['a', null, ...Array(7).fill('x'), 'ten'])).toBe(
    "SELECT 'a', NULL, 'ten'",
  );
  expect(inlineParameters(`SELECT '$1', "$1", $1`, ["it's"])).toBe(`SELECT '$1', "$1", 'it''s'`);
  // pg writes a backslash as an E'' string (with a leading space) and doubles it.
  expect(inlineParameters('SELECT $1', ['back\\slash'])).toBe("SELECT  E'back\\\\slash'");
  expect(
    inlineParameters('SELECT $1::int[], $2::text[]', [
      [1, 2],
      ['a"b', "c'd"],
    ]),
  ).toBe(`SELECT '{"1","2"}'::int[],  E'{"a\\\\"b","c''d"}'::text[]`);
  expect(inlineParameters('SELECT $1::jsonb', [JSON.stringify({ quote: "'" })])).toBe(`SELECT '{"quote":"''"}'::jsonb`);
});

test('what cannot be written out safely is refused (sent as a parameterised statement instead)', () => {
  expect(inlineParameters('SELECT $$x$$, $1', ['a'])).toBeUndefined();
  expect(inlineParameters("SELECT $1 -- it's a comment", ['a'])).toBeUndefined();
  expect(inlineParameters('SELECT /* $1 */ $1', ['a'])).toBeUndefined();
  expect(inlineParameters('SELECT $tag$ $1 $tag$, $1', ['a'])).toBeUndefined();
  expect(inlineParameters("SELECT E'\\' $1', $1", ['a'])).toBeUndefined();
  expect(inlineParameters('SELECT $1', [Buffer.from('bytes')])).toBeUndefined();
  expect(inlineParameters('SELECT $2', ['only one'])).toBeUndefined();
  expect(inlineParameters("SELECT 'unterminated $1", ['a'])).toBeUndefined();
  // A statement that must answer is inlined only with text values: a literal is typed where it stands.
  expect(inlineParameters('SELECT $1 + 1', [5], { onlyText: true })).toBeUndefined();
  expect(inlineParameters('SELECT $1 = $2', ['a', null], { onlyText: true })).toBe("SELECT 'a' = NULL");
});
