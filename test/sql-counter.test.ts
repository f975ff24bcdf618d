import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { installSqlCounter, sqlCounts } from '../bench/support/sql-counter.js';
import { ADMIN_DATABASE_URL, BACKEND, skipBackend } from './support/backend.js';

// The counter sees what a client sends; a NOTIFY sent with the COMMIT in one
// message is two statements, one round trip, and makes the block a write.
let client: pg.Client | undefined;

beforeAll(async () => {
  // The benchmark counts PostgreSQL only: this runs in the postgres project.
  if (BACKEND !== 'postgres' || (await skipBackend())) return;
  installSqlCounter();
  client = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await client.connect();
});
afterAll(async () => {
  await client?.end();
});

test('a NOTIFY sent with the COMMIT counts as two statements, one round trip and one write transaction', async (ctx) => {
  if (!client) ctx.skip();
  const c = client!;
  const database = (c as unknown as { database: string }).database;
  const before = sqlCounts(database);
  await c.query('BEGIN');
  await c.query('SELECT 1 WHERE $1::int = 1', [1]);
  await c.query(`SELECT pg_notify('sql_counter_test', 'a;b''c'); COMMIT`);
  const after = sqlCounts(database);
  expect(after.statements - before.statements).toBe(4);
  expect(after.roundTrips - before.roundTrips).toBe(3);
  expect(after.transactions - before.transactions).toBe(1);
  expect(after.writeTransactions - before.writeTransactions).toBe(1);
});

test('several statements in one message outside a block count as one transaction, a write if one of them wrote', async (ctx) => {
  if (!client) ctx.skip();
  const c = client!;
  const database = (c as unknown as { database: string }).database;
  const before = sqlCounts(database);
  await c.query(`SELECT 1; SELECT pg_notify('sql_counter_test', 'implicit')`);
  await c.query('SELECT 1; SELECT 2');
  const after = sqlCounts(database);
  expect(after.statements - before.statements).toBe(4);
  expect(after.roundTrips - before.roundTrips).toBe(2);
  expect(after.transactions - before.transactions).toBe(2);
  expect(after.writeTransactions - before.writeTransactions).toBe(1);
});
