import { afterAll, beforeAll, expect, test } from 'vitest';
import { runRow } from '../../test/fixtures/run-row.js';
import { type Db, insertRun, migrate, openPgliteDb, type RunRow } from '../store/index.js';
import { RunReads } from './run-reads.js';

// Result waits read their runs through RunReads: reads asked for while one
// is on its way go together in the next statement. On the embedded store.
let db: Db;
const statements: string[] = [];
let counted: Db;

function run(namespace: string, runId: string): RunRow {
  return runRow(namespace, { runId, workflowId: `wf-${runId}` });
}

beforeAll(async () => {
  db = await openPgliteDb();
  await migrate(db);
  for (let i = 0; i < 1200; i++) await insertRun(db, run(i % 2 === 0 ? 'even' : 'odd', `r${i}`));
  counted = Object.create(db);
  counted.query = (sql, params) => {
    statements.push(sql);
    return db.query(sql, params);
  };
});
afterAll(async () => {
  await db.close();
});

test('a read asked for alone is one statement by primary key', async () => {
  statements.length = 0;
  const reads = new RunReads(counted);
  expect((await reads.read('even', 'r0'))?.workflowId).toBe('wf-r0');
  expect(await reads.read('even', 'missing')).toBeUndefined();
  expect(statements).toHaveLength(2);
});

test('reads asked for together share statements: one per namespace and batch, each gets its own run', async () => {
  statements.length = 0;
  const reads = new RunReads(counted);
  const ids = Array.from({ length: 1200 }, (_, i) => i);
  // Every run asked for twice, plus one that does not exist.
  const results = await Promise.all([
    ...ids.map((i) => reads.read(i % 2 === 0 ? 'even' : 'odd', `r${i}`)),
    ...ids.map((i) => reads.read(i % 2 === 0 ? 'even' : 'odd', `r${i}`)),
    reads.read('odd', 'r0'),
  ]);
  for (const [k, result] of results.slice(0, 2400).entries()) expect(result?.runId).toBe(`r${k % 1200}`);
  expect(results.at(-1)).toBeUndefined();
  // 1,201 distinct reads, at most 500 a batch, each batch one statement per namespace.
  expect(statements.length).toBeGreaterThanOrEqual(3);
  expect(statements.length).toBeLessThanOrEqual(6);
});

test('a read asked for while a batch is on its way goes in the next one and sees what committed since', async () => {
  statements.length = 0;
  const reads = new RunReads(counted);
  const first = reads.read('even', 'r2');
  await Promise.resolve(); // the first batch is on its way
  await db.query("UPDATE runs SET status = 'completed' WHERE namespace = 'even' AND run_id = 'r4'");
  const second = reads.read('even', 'r4');
  const third = reads.read('even', 'r6');
  expect((await first)?.status).toBe('running');
  expect((await second)?.status).toBe('completed');
  expect((await third)?.runId).toBe('r6');
  expect(statements).toHaveLength(2);
});

test('a failed read fails every read of its batch, and later reads still work', async () => {
  const failing: Db = Object.create(db);
  let fail = true;
  failing.query = (sql, params) => (fail ? Promise.reject(new Error('connection lost')) : db.query(sql, params));
  const reads = new RunReads(failing);
  const both = [reads.read('even', 'r8'), reads.read('odd', 'r9')];
  await expect(both[0]).rejects.toThrow(/connection lost/);
  await expect(both[1]).rejects.toThrow(/connection lost/);
  fail = false;
  expect((await reads.read('even', 'r8'))?.runId).toBe('r8');
});
