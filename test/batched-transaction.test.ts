import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type Db, openPostgresDb, queryEach, readLater, writeLater } from '../src/store/index.js';
import { BACKEND, createTestDatabase, skipBackend } from './support/backend.js';

// A PostgreSQL transaction holds back BEGIN and deferred writes and sends
// them with the next statement or the COMMIT: fewer round trips, the same
// outcome. These check the outcome is the same, value for value and on error.
let db: Db | undefined;
let drop: (() => Promise<void>) | undefined;
let messages = 0;
/** The statements of every message counted, in order. */
const sent: string[][] = [];
let url = '';
/** Connections of the tests' own whose messages are not counted. */
const uncounted = new WeakSet<object>();

beforeAll(async () => {
  if (BACKEND !== 'postgres' || (await skipBackend())) return;
  const created = await createTestDatabase();
  drop = created.drop;
  url = created.url;
  db = await openPostgresDb({ connectionString: created.url });
  await db.exec('CREATE TABLE batched (id int PRIMARY KEY, label text, doc jsonb, tags text[], big bigint)');
  const original = pg.Client.prototype.query as (...args: unknown[]) => unknown;
  (pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown }).query = function (...args) {
    if (!uncounted.has(this)) {
      messages++;
      sent.push([...((args[0] as { texts?: string[] }).texts ?? [String(args[0])])]);
    }
    return original.apply(this, args);
  };
});
afterAll(async () => {
  await db?.close();
  await drop?.();
});

const awkward = ["it's", 'back\\slash', 'quote"d', 'semi;colon', 'dollar $1 $$', 'ünï ✓', '', 'new\nline'];

test('deferred writes store exactly what was written, in one round trip', async (ctx) => {
  if (!db) ctx.skip();
  const before = messages;
  await db!.transaction(async (tx) => {
    for (const [i, label] of awkward.entries()) {
      await writeLater(
        tx,
        'INSERT INTO batched (id, label, doc, tags, big) VALUES ($1, $2, $3::jsonb, $4::text[], $5)',
        [i, label, JSON.stringify({ label, n: i }), [label, 'x'], 1_795_257_041_460 + i],
      );
    }
  });
  // BEGIN, eight inserts and COMMIT in one message.
  expect(messages - before).toBe(1);
  const rows = await db!.query<{ id: number; label: string; doc: unknown; tags: string[]; big: number }>(
    'SELECT id, label, doc, tags, big FROM batched ORDER BY id',
  );
  expect(rows).toEqual(
    awkward.map((label, i) => ({ id: i, label, doc: { label, n: i }, tags: [label, 'x'], big: 1_795_257_041_460 + i })),
  );
});

test('a statement that must answer sees the deferred writes before it', async (ctx) => {
  if (!db) ctx.skip();
  const before = messages;
  const seen = await db!.transaction(async (tx) => {
    await writeLater(tx, 'UPDATE batched SET label = $2 WHERE id = $1', [0, 'changed']);
    return tx.query<{ label: string }>('SELECT label FROM batched WHERE id = $1::int', ['0']);
  });
  expect(seen).toEqual([{ label: 'changed' }]);
  expect(messages - before).toBe(2); // BEGIN + update + select; COMMIT
});

test('a deferred write that fails rolls the whole transaction back and reports its error', async (ctx) => {
  if (!db) ctx.skip();
  await expect(
    db!.transaction(async (tx) => {
      await writeLater(tx, 'UPDATE batched SET label = $2 WHERE id = $1', [1, 'lost']);
      await writeLater(tx, 'INSERT INTO batched (id, label) VALUES ($1, $2)', [2, 'duplicate id']);
    }),
  ).rejects.toThrow(/duplicate key/);
  const [row] = await db!.query<{ label: string }>('SELECT label FROM batched WHERE id = 1');
  expect(row?.label).toBe('back\\slash');
  // The connection is usable again afterwards.
  await db!.transaction(async (tx) => {
    await writeLater(tx, 'UPDATE batched SET label = $2 WHERE id = $1', [1, 'kept']);
  });
  const [after] = await db!.query<{ label: string }>('SELECT label FROM batched WHERE id = 1');
  expect(after?.label).toBe('kept');
});

test('a transaction sent whole goes without BEGIN and COMMIT, and one that fails needs no ROLLBACK', async (ctx) => {
  if (!db) ctx.skip();
  const first = sent.length;
  await db!.transaction(async (tx) => {
    await writeLater(tx, 'INSERT INTO batched (id, label) VALUES ($1, $2)', [200, 'a']);
    await writeLater(tx, 'INSERT INTO batched (id, label) VALUES ($1, $2)', [201, 'b']);
  });
  expect(sent.slice(first)).toEqual([
    ['INSERT INTO batched (id, label) VALUES ($1, $2)', 'INSERT INTO batched (id, label) VALUES ($1, $2)'],
  ]);
  // Still all or nothing: the second insert fails, so the first is not kept, and nothing more is sent.
  const failing = sent.length;
  await expect(
    db!.transaction(async (tx) => {
      await writeLater(tx, 'INSERT INTO batched (id, label) VALUES ($1, $2)', [202, 'not kept']);
      await writeLater(tx, 'INSERT INTO batched (id, label) VALUES ($1, $2)', [200, 'taken']);
    }),
  ).rejects.toThrow(/duplicate key/);
  expect(sent.length - failing).toBe(1);
  const rows = await db!.query<{ id: number }>('SELECT id FROM batched WHERE id >= 200 ORDER BY id');
  expect(rows.map((r) => r.id)).toEqual([200, 201]);
  // A transaction that reads first still begins and commits explicitly.
  const reading = sent.length;
  await db!.transaction(async (tx) => {
    await tx.query('SELECT 1');
    await writeLater(tx, 'DELETE FROM batched WHERE id >= $1', [200]);
  });
  expect(sent.slice(reading).map((message) => [message[0], message.at(-1)])).toEqual([
    ['BEGIN', 'SELECT 1'],
    ['DELETE FROM batched WHERE id >= $1', 'COMMIT'],
  ]);
});

test('NOTIFYs go out with the COMMIT, and not at all when the transaction fails', async (ctx) => {
  if (!db) ctx.skip();
  const heard: string[] = [];
  const unlisten = await db!.listen('batched_test', (payload) => heard.push(payload));
  await db!.transaction(async () => undefined, {
    notifications: () => ({ channel: 'batched_test', payloads: ["one's", 'two'] }),
  });
  await expect(
    db!.transaction(
      async (tx) => {
        await writeLater(tx, 'INSERT INTO batched (id) VALUES ($1)', [0]);
      },
      { notifications: () => ({ channel: 'batched_test', payloads: ['never'] }) },
    ),
  ).rejects.toThrow(/duplicate key/);
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(heard).toEqual(["one's", 'two']);
  await unlisten();
});

test('a text array of awkward strings reads back unchanged', async (ctx) => {
  if (!db) ctx.skip();
  const [row] = await db!.query<{ a: string[] }>('SELECT $1::text[] AS a', [awkward]);
  expect(row?.a).toEqual(awkward);
  // Held back and sent with the next statement too.
  const rows = await db!.transaction(async (tx) => {
    await writeLater(tx, 'UPDATE batched SET tags = $2::text[] WHERE id = $1', [3, awkward]);
    return tx.query<{ tags: string[] }>('SELECT tags FROM batched WHERE id = $1::int', ['3']);
  });
  expect(rows[0]?.tags).toEqual(awkward);
});

test('statements that must all answer go in one message, and each sees what committed while the one before it waited', async (ctx) => {
  if (!db) ctx.skip();
  await db!.exec("INSERT INTO batched (id, label) VALUES (100, 'lock me')");
  // Another transaction holds the row's lock and, before releasing it, commits a row the reader asks for next.
  const holder = new pg.Client({ connectionString: url });
  uncounted.add(holder);
  await holder.connect();
  await holder.query('BEGIN');
  await holder.query('SELECT 1 FROM batched WHERE id = 100 FOR UPDATE');
  const before = messages;
  const reading = db!.transaction(async (tx) => {
    await writeLater(tx, 'UPDATE batched SET label = $2 WHERE id = $1', [0, 'sent first']);
    return queryEach(tx, [
      { sql: 'SELECT label FROM batched WHERE id = $1::int FOR UPDATE', params: ['100'] },
      { sql: 'SELECT label FROM batched WHERE id = $1::int', params: ['101'] },
      { sql: 'SELECT label FROM batched WHERE id = $1::int', params: ['0'] },
    ]);
  });
  await new Promise((resolve) => setTimeout(resolve, 100));
  await holder.query("INSERT INTO batched (id, label) VALUES (101, 'committed while waiting')");
  await holder.query('COMMIT');
  await holder.end();
  expect(await reading).toEqual([
    [{ label: 'lock me' }],
    [{ label: 'committed while waiting' }],
    [{ label: 'sent first' }],
  ]);
  expect(messages - before).toBe(2); // BEGIN, the update and the three reads; COMMIT
});

test('a read held back until the COMMIT sees the writes before it, and fails with a transaction that fails', async (ctx) => {
  if (!db) ctx.skip();
  const before = messages;
  const read = await db!.transaction(async (tx) => {
    await writeLater(tx, 'UPDATE batched SET label = $2 WHERE id = $1', [4, 'written before the read']);
    return readLater<{ label: string }>(tx, { sql: 'SELECT label FROM batched WHERE id = $1::int', params: ['4'] });
  });
  expect(messages - before).toBe(1); // BEGIN, the update, the read and COMMIT
  expect(await read()).toEqual([{ label: 'written before the read' }]);

  let failedRead: (() => Promise<unknown>) | undefined;
  await expect(
    db!.transaction(async (tx) => {
      failedRead = await readLater(tx, { sql: 'SELECT label FROM batched WHERE id = $1::int', params: ['4'] });
      await writeLater(tx, 'INSERT INTO batched (id) VALUES ($1)', [4]);
    }),
  ).rejects.toThrow(/duplicate key/);
  await expect(failedRead!()).rejects.toThrow(/duplicate key/);
});
