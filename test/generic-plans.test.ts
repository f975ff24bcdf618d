import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isGenericPlan, migrate, openPostgresDb } from '../src/store/index.js';
import { condition, defineSignal, proxyActivities, setHandler, sleep } from '../src/workflow/index.js';
import { addOneActivities, fiveSteps } from './fixtures/five-steps.js';
import { BACKEND, createTestDatabase, skipBackend } from './support/backend.js';
import { createTideway } from './support/env.js';

// Statements marked `genericPlan` keep the plan PostgreSQL makes the first
// time a connection runs them, whatever the tables hold later. That plan is
// likeliest to go wrong on empty, never-analysed tables, where every index
// that shares a leading column costs the same: a lookup by primary key that
// picked a queue's claim index there would scan the whole queue once it
// fills. This runs the engine's common paths, collects every marked
// statement it sends, and checks each one's generic plan on such tables
// (and again after ANALYZE): every table it reads is reached through the
// index it is meant to use, with a condition on the index (not a full scan).

const skip = BACKEND !== 'postgres' || (await skipBackend());

/** Looks at a queue read it through its claim index; every other read is by primary key (claims keep no plan). */
const QUEUE_READ = /min\(visible_at\)/;

/**
 * Whether a scan reads what it should: by primary key down to a run (every
 * key here starts with namespace and run id), or a queue through its claim
 * index in a look at it. Never a full scan of an index.
 */
function readsAsMeant(sql: string, table: string, type: string, index: string | undefined, cond: string): boolean {
  if (type !== 'Index Scan' && type !== 'Index Only Scan') return false;
  if (index === `${table}_pkey`) return /\brun_id\b/.test(cond);
  const queue = table === 'workflow_tasks' || table === 'activity_tasks';
  return queue && QUEUE_READ.test(sql) && index === `${table}_claim` && /\btask_queue\b/.test(cond);
}

const signalled = defineSignal<[string]>('note');
const { addOne } = proxyActivities<typeof addOneActivities>({ startToCloseTimeout: '10s' });

async function waitsAndWorks(): Promise<string> {
  let note = '';
  setHandler(signalled, (n) => {
    note = n;
  });
  await sleep(10);
  await condition(() => note !== '');
  return `${note}:${await addOne(1)}`;
}

describe.skipIf(skip)('generic plans', () => {
  const marked = new Set<string>();
  let url = '';
  let drop: (() => Promise<void>) | undefined;
  let client: pg.Client | undefined;

  beforeAll(async () => {
    const original = pg.Client.prototype.query;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const texts = (args[0] as { texts?: unknown } | undefined)?.texts;
      if (Array.isArray(texts)) for (const sql of texts) if (isGenericPlan(sql)) marked.add(sql);
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof original;
    try {
      const t = await createTideway('in-process', { replayCheck: false });
      await t.startWorker({
        taskQueue: 'plans',
        workflows: { fiveSteps, waitsAndWorks },
        activities: addOneActivities,
      });
      expect(await t.client.workflow.execute(fiveSteps, { id: 'plans-five', taskQueue: 'plans', args: [1] })).toBe(6);
      const handle = await t.client.workflow.start(waitsAndWorks, { id: 'plans-wait', taskQueue: 'plans' });
      await handle.signal(signalled, 'hello');
      expect(await handle.result()).toBe('hello:2');
      await t.teardown();
    } finally {
      pg.Client.prototype.query = original;
    }
    const created = await createTestDatabase();
    url = created.url;
    drop = created.drop;
    const db = await openPostgresDb({ connectionString: url });
    await migrate(db);
    await db.close();
    client = new pg.Client({ connectionString: url });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    await drop?.();
  });

  /** Every table scan in `statement`'s generic plan that is not through the index it should use. */
  async function wrongScans(sql: string, name: string): Promise<string[]> {
    const c = client!;
    const params = Math.max(0, ...[...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
    await c.query(`PREPARE ${name} AS ${sql}`);
    try {
      await c.query('SET plan_cache_mode = force_generic_plan');
      await c.query('SET enable_seqscan = off');
      const args = params > 0 ? `(${Array(params).fill('NULL').join(', ')})` : '';
      const [{ 'QUERY PLAN': plan }] = (await c.query(`EXPLAIN (FORMAT JSON) EXECUTE ${name}${args}`)).rows;
      const wrong: string[] = [];
      const visit = (node: Record<string, unknown>) => {
        const table = node['Relation Name'] as string | undefined;
        const type = node['Node Type'] as string;
        if (table && type !== 'ModifyTable') {
          const index = node['Index Name'] as string | undefined;
          const cond = (node['Index Cond'] as string | undefined) ?? '';
          if (!readsAsMeant(sql, table, type, index, cond)) {
            wrong.push(`${type} on ${table}${index ? ` using ${index}` : ''}${cond ? ` (${cond})` : ''}`);
          }
        }
        for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) visit(child);
      };
      visit(plan[0].Plan);
      return wrong;
    } finally {
      await c.query(`DEALLOCATE ${name}`);
      await c.query('RESET plan_cache_mode');
      await c.query('RESET enable_seqscan');
    }
  }

  test('the common paths send marked statements, looks at queues among them, claims not', () => {
    expect(marked.size).toBeGreaterThan(10);
    expect([...marked].filter((sql) => QUEUE_READ.test(sql)).length).toBe(2);
    for (const sql of marked) expect(sql).not.toMatch(/SKIP LOCKED/);
  });

  /** Each marked statement whose kept plan reads a table otherwise than it should, with those reads. */
  async function wrongPlans(prefix: string): Promise<Record<string, string[]>> {
    const wrong: Record<string, string[]> = {};
    let i = 0;
    for (const sql of marked) {
      const scans = await wrongScans(sql, `${prefix}_${i++}`);
      if (scans.length > 0) wrong[sql] = scans;
    }
    return wrong;
  }

  test('on empty, never-analysed tables every marked statement reads by the index it should', async () => {
    expect(await wrongPlans('plan')).toEqual({});
  });

  test('after ANALYZE of the empty tables, the same', async () => {
    await client!.query('ANALYZE');
    expect(await wrongPlans('analysed')).toEqual({});
  });
});
