import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Client } from '../src/client/index.js';
import { Engine } from '../src/engine/index.js';
import { NOTIFY_CHANNEL } from '../src/engine/notifier.js';
import { Worker } from '../src/worker/index.js';
import { ActivityFailure, milestone, proxyActivities, sleep } from '../src/workflow/index.js';
import { BACKEND, skipBackend } from './support/backend.js';
import { createTideway, type TestTideway } from './support/env.js';

// What a commit announces to other replicas through PostgreSQL, and what it
// leaves to them to find: an activity step of a run nobody watches sends no
// notification, a watcher on another replica is still woken at once, and a
// timer due beyond the hint horizon is still fired by another replica.

const NS = 'default';
const skip = (await skipBackend()) || BACKEND !== 'postgres';

const activities = {
  async addOne(n: number): Promise<number> {
    return n + 1;
  },
  /** Never registered with a worker: only its timeout ends it. */
  async nobodyRunsThis(): Promise<void> {},
};
const { addOne } = proxyActivities<typeof activities>({ startToCloseTimeout: '30s' });
const { nobodyRunsThis } = proxyActivities<typeof activities>({
  scheduleToCloseTimeout: '13s',
  retry: { maximumAttempts: 1 },
});

async function threeSteps(n: number): Promise<number> {
  let value = n;
  for (let i = 0; i < 3; i++) value = await addOne(value);
  return value;
}

async function twoMilestones(): Promise<string> {
  milestone('first');
  await sleep(1500);
  milestone('second');
  return 'done';
}

async function outlivedActivity(): Promise<string> {
  try {
    await nobodyRunsThis();
    return 'ran';
  } catch (error) {
    return error instanceof ActivityFailure ? 'timed out' : 'failed otherwise';
  }
}

const workflows = { threeSteps, twoMilestones, outlivedActivity };

/** Every payload sent on Tideway's channel while it listens. */
async function listen(databaseUrl: string): Promise<{ payloads: string[]; close(): Promise<void> }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const payloads: string[] = [];
  client.on('notification', (message) => payloads.push(message.payload ?? ''));
  await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
  return { payloads, close: () => client.end() };
}

describe.skipIf(skip)('notifications other replicas need, and only those', () => {
  let t: TestTideway;
  let other: Engine;
  let listener: Awaited<ReturnType<typeof listen>>;
  beforeAll(async () => {
    t = await createTideway('in-process');
    other = await Engine.open({ databaseUrl: t.databaseUrl! });
    listener = await listen(t.databaseUrl!);
    await t.startWorker({ taskQueue: 'notify', workflows: { threeSteps, twoMilestones }, activities });
  });
  afterAll(async () => {
    await listener?.close();
    await other?.close();
    await t?.teardown();
  });

  test('activity steps of a run nobody watches notify nobody; its close does', async () => {
    const handle = await t.client.workflow.start('threeSteps', { id: 'quiet-steps', taskQueue: 'notify', args: [1] });
    expect(await handle.result()).toBe(4);
    const runId = handle.runId!;
    // The close's notification shows the listener hears this run's commits.
    await expect.poll(() => listener.payloads).toContain(`r:${NS}:${runId}`);
    expect(listener.payloads.filter((p) => p.includes(runId))).toEqual([`r:${NS}:${runId}`]);
    // The activities' 30 s deadlines are found by the timer services' regular reads: no hint.
    expect(listener.payloads.filter((p) => p.startsWith('t:'))).toEqual([]);
  });

  test('a watcher on another replica is woken by the events as they land, not at the end of its wait', async () => {
    const handle = await t.client.workflow.start('twoMilestones', { id: 'watched', taskQueue: 'notify' });
    const runId = handle.runId!;
    const ref = { workflowId: 'watched', runId };
    // The first milestone, read on the other replica.
    let page = await other.listTaskEvents(NS, { ...ref, after: 0, waitMs: 10_000 });
    for (let after = 0; !page.events.some((e) => e.message === 'first'); ) {
      after = page.events.at(-1)?.seq ?? after;
      page = await other.listTaskEvents(NS, { ...ref, after, waitMs: 10_000 });
    }
    // The second comes 1.5 s later, committed by the first replica; the wait would last 20 s.
    const after = page.events.at(-1)!.seq;
    const waitedFrom = Date.now();
    const next = await other.listTaskEvents(NS, { ...ref, after, waitMs: 20_000 });
    expect(Date.now() - waitedFrom).toBeLessThan(8_000);
    expect(next.events.map((e) => e.message)).toContain('second');
    expect(listener.payloads).toContain(`e:${NS}:${runId}`);
    expect(await handle.result()).toBe('done');
  });
});

describe.skipIf(skip)('a timer due beyond the hint horizon', () => {
  let t: TestTideway;
  let firing: Engine;
  let listener: Awaited<ReturnType<typeof listen>>;
  let starting: Engine;
  let client: Client;
  let worker: Worker;
  let running: Promise<void>;
  beforeAll(async () => {
    t = await createTideway('in-process', { replayCheck: false });
    // This replica's timer service has been asleep since before the timer exists.
    firing = await Engine.open({ databaseUrl: t.databaseUrl! });
    starting = await Engine.open({ databaseUrl: t.databaseUrl!, timers: false });
    listener = await listen(t.databaseUrl!);
    const connection = { api: starting, target: 'in-process' } as const;
    client = await Client.connect({ connection });
    worker = await Worker.create({
      connection,
      taskQueue: 'far-timer',
      workflows,
      handleSignals: false,
      shutdownGraceTime: 100,
      logger: { debug() {}, info() {}, warn() {}, error() {} },
    });
    running = worker.run();
  });
  afterAll(async () => {
    await worker?.shutdown();
    await running;
    await starting?.close();
    await listener?.close();
    await firing?.close();
    await t?.teardown();
  });

  test('is set without a notification and still fired on time by another replica', async () => {
    const startedAt = Date.now();
    const result = await client.workflow.execute('outlivedActivity', { id: 'far-timer', taskQueue: 'far-timer' });
    expect(result).toBe('timed out');
    const tookMs = Date.now() - startedAt;
    expect(tookMs).toBeGreaterThanOrEqual(13_000);
    // Found by the other replica's next read (at most 10 s after it went to sleep), then fired when due.
    expect(tookMs).toBeLessThan(16_000);
    expect(listener.payloads.filter((p) => p.startsWith('t:'))).toEqual([]);
  }, 30_000);
});
