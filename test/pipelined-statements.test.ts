import { afterAll, beforeAll, expect, test } from 'vitest';
import { type Db, genericPlan, openPostgresDb, queryEach } from '../src/store/index.js';
import { BACKEND, createTestDatabase, skipBackend } from './support/backend.js';

// Statements go to PostgreSQL as prepared statements of their connection,
// several per message. These check what a caller sees: the same rows as
// before, errors that leave the connection usable, and statements prepared
// once. One connection, so every test reuses what the ones before prepared.
let db: Db | undefined;
let drop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  if (BACKEND !== 'postgres' || (await skipBackend())) return;
  const created = await createTestDatabase();
  drop = created.drop;
  db = await openPostgresDb({ connectionString: created.url, maxConnections: 1 });
  await db.exec('CREATE TABLE piped (id int PRIMARY KEY, label text, bytes bytea, big bigint, doc jsonb, tags text[])');
});
afterAll(async () => {
  await db?.close();
  await drop?.();
});

const preparedCount = async () =>
  Number((await db!.query<{ n: string }>('SELECT count(*) AS n FROM pg_prepared_statements'))[0]!.n);

test('a statement is prepared once per connection and planned for each call', async (ctx) => {
  if (!db) ctx.skip();
  const sql = 'SELECT label FROM piped WHERE id = $1';
  await db!.query(sql, [1]);
  const afterFirst = await preparedCount();
  for (let i = 0; i < 5; i++) await db!.query(sql, [i]);
  expect(await preparedCount()).toBe(afterFirst);
  const [{ statement } = { statement: '' }] = await db!.query<{ statement: string }>(
    'SELECT statement FROM pg_prepared_statements WHERE statement = $1',
    [sql],
  );
  expect(statement).toBe(sql);
  expect(await db!.query('SHOW plan_cache_mode')).toEqual([{ plan_cache_mode: 'force_custom_plan' }]);
});

test('values of every kind round-trip as parameters', async (ctx) => {
  if (!db) ctx.skip();
  const bytes = Buffer.from([0, 1, 2, 255]);
  const doc = { quote: "it's", nested: [1, 'two'] };
  const rows = await db!.transaction(async (tx) => {
    await tx.query('INSERT INTO piped (id, label, bytes, big, doc, tags) VALUES ($1, $2, $3, $4, $5::jsonb, $6)', [
      10,
      "semi;colon 'quoted' $1",
      bytes,
      9_007_199_254_740_991,
      JSON.stringify(doc),
      ['a', 'b"c', null],
    ]);
    return tx.query<Record<string, unknown>>('SELECT label, bytes, big, doc, tags FROM piped WHERE id = $1', [10]);
  });
  expect(rows).toEqual([
    { label: "semi;colon 'quoted' $1", bytes, big: 9_007_199_254_740_991, doc, tags: ['a', 'b"c', null] },
  ]);
});

test('a statement reads its rows the same way on every run, in any company', async (ctx) => {
  if (!db) ctx.skip();
  // After its first run on a connection a statement is not described again; what it returns must not change.
  const bytes = Buffer.from([7, 8]);
  await db!.query('INSERT INTO piped (id, label, bytes, big, doc, tags) VALUES ($1, $2, $3, $4, $5::jsonb, $6)', [
    30,
    'thirty',
    bytes,
    2 ** 40,
    JSON.stringify({ a: 1 }),
    ['x'],
  ]);
  const wide = { sql: 'SELECT id, label, bytes, big, doc, tags FROM piped WHERE id = $1', params: [30] };
  const narrow = { sql: 'SELECT big AS "renamed", label IS NULL AS "noLabel" FROM piped WHERE id = $1', params: [30] };
  const none = { sql: 'UPDATE piped SET label = label WHERE id = $1', params: [30] };
  const empty = { sql: 'SELECT id FROM piped WHERE id = $1', params: [-1] };
  const expected = [
    [{ id: 30, label: 'thirty', bytes, big: 2 ** 40, doc: { a: 1 }, tags: ['x'] }],
    [{ renamed: 2 ** 40, noLabel: false }],
    [],
    [],
  ];
  for (let i = 0; i < 3; i++) {
    const order = i % 2 === 0 ? [wide, narrow, none, empty] : [empty, none, narrow, wide];
    const rows = await db!.transaction((tx) => queryEach(tx, order));
    expect(rows).toEqual(i % 2 === 0 ? expected : [...expected].reverse());
    expect(await db!.query(narrow.sql, narrow.params)).toEqual(expected[1]);
  }
});

test('an error stops the rest of its message, reports itself, and leaves the connection usable', async (ctx) => {
  if (!db) ctx.skip();
  const before = await db!.query<{ n: string }>('SELECT count(*) AS n FROM piped');
  await expect(
    db!.transaction((tx) =>
      queryEach(tx, [
        { sql: 'INSERT INTO piped (id, label) VALUES ($1, $2)', params: [20, 'first'] },
        { sql: 'SELECT 1 / $1::int AS never', params: [0] },
        { sql: 'INSERT INTO piped (id, label) VALUES ($1, $2) RETURNING id', params: [21, 'after'] },
      ]),
    ),
  ).rejects.toThrow(/division by zero/);
  expect(await db!.query<{ n: string }>('SELECT count(*) AS n FROM piped')).toEqual(before);
  // The statement that failed and the one it kept from running were prepared by that message, or were
  // meant to be: both run now.
  expect(await db!.query('SELECT 1 / $1::int AS never', [1])).toEqual([{ never: 1 }]);
  expect(await db!.query('INSERT INTO piped (id, label) VALUES ($1, $2) RETURNING id', [21, 'after'])).toEqual([
    { id: 21 },
  ]);
});

test('a statement PostgreSQL cannot parse fails alone; the statements after it still prepare later', async (ctx) => {
  if (!db) ctx.skip();
  const later = { sql: 'SELECT $1::text AS later', params: ['x'] };
  await expect(
    db!.transaction((tx) => queryEach(tx, [{ sql: 'SELEC nonsense $1', params: [1] }, later])),
  ).rejects.toThrow(/syntax error/);
  expect(await db!.query(later.sql, later.params)).toEqual([{ later: 'x' }]);
});

test('a value that cannot be sent fails the call before anything is sent, and keeps the connection', async (ctx) => {
  if (!db) ctx.skip();
  const prepared = await preparedCount();
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  await expect(db!.query('SELECT $1::jsonb AS doc', [circular])).rejects.toThrow(/circular/i);
  expect(await db!.query('SELECT $1::int AS ok', [7])).toEqual([{ ok: 7 }]);
  // The same connection, with what it prepared: a new one would start with none.
  expect(await preparedCount()).toBeGreaterThanOrEqual(prepared);
});

/** How PostgreSQL planned each run of a prepared statement so far. */
async function plansOf(sql: string): Promise<{ generic: number; custom: number }> {
  const [row] = await db!.query<{ generic: string; custom: string }>(
    'SELECT generic_plans AS generic, custom_plans AS custom FROM pg_prepared_statements WHERE statement = $1',
    [sql],
  );
  return { generic: Number(row?.generic ?? 0), custom: Number(row?.custom ?? 0) };
}

test('a statement marked genericPlan keeps one plan; the others are planned for each call', async (ctx) => {
  if (!db) ctx.skip();
  const kept = genericPlan('SELECT label FROM piped WHERE id = $1 AND $2::int > 0');
  const perCall = 'SELECT label FROM piped WHERE id = $1 AND $2::int < 100';
  for (let i = 0; i < 3; i++) {
    // Alternating in one message and across messages: each statement gets its own mode every time.
    await db!.transaction((tx) =>
      queryEach(tx, [
        { sql: kept, params: [i, 1] },
        { sql: perCall, params: [i, 1] },
        { sql: kept, params: [i, 2] },
      ]),
    );
    await db!.query(kept, [i, 3]);
  }
  expect(await plansOf(kept)).toEqual({ generic: 9, custom: 0 });
  expect(await plansOf(perCall)).toEqual({ generic: 0, custom: 3 });
  // Sequential scans are off only while the connection is in the marked statements' mode.
  expect(await db!.query('SHOW enable_seqscan')).toEqual([{ enable_seqscan: 'on' }]);
});

test('a rolled-back transaction undoes its mode switch, and the next statements still get their mode', async (ctx) => {
  if (!db) ctx.skip();
  const kept = genericPlan('SELECT label FROM piped WHERE id = $1 AND $2::int > 10');
  const keptFailing = genericPlan('SELECT 1 / $1::int AS never');
  const perCall = 'SELECT label FROM piped WHERE id = $1 AND $2::int < 1000';
  // Each transaction switches the connection from per-call plans to kept ones and then rolls back, which
  // puts the connection back to per-call plans: the statement after it must switch again.
  await db!.query(perCall, [1, 1]);
  await expect(
    db!.transaction(async (tx) => {
      await tx.query(kept, [1, 1]);
      await tx.query(keptFailing, [0]);
    }),
  ).rejects.toThrow(/division by zero/);
  await db!.query(kept, [1, 2]);
  await db!.query(perCall, [1, 2]);
  await expect(
    db!.transaction(async (tx) => {
      await tx.query(kept, [1, 3]);
      throw new Error('changed my mind');
    }),
  ).rejects.toThrow(/changed my mind/);
  await db!.query(kept, [1, 4]);
  // A statement outside a transaction block runs in a transaction of its own message, which fails too.
  await db!.query(perCall, [1, 3]);
  await expect(db!.query(keptFailing, [0])).rejects.toThrow(/division by zero/);
  await db!.query(kept, [1, 5]);
  expect(await plansOf(kept)).toEqual({ generic: 5, custom: 0 });
  expect(await plansOf(perCall)).toEqual({ generic: 0, custom: 3 });
});

test('past the prepared-statement limit of a connection, new texts still run', async (ctx) => {
  if (!db) ctx.skip();
  for (let i = 0; i < 520; i++) {
    expect(await db!.query(`SELECT $1::int + ${i} AS n`, [1])).toEqual([{ n: 1 + i }]);
  }
  expect(await preparedCount()).toBeLessThanOrEqual(500);
  // The statements prepared before the limit are still used.
  expect(await db!.query('SELECT label FROM piped WHERE id = $1', [21])).toEqual([{ label: 'after' }]);
});
