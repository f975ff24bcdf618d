import { describe, expect, test } from 'vitest';
import { Client } from '../src/client/index.js';
import type { TaskEvent } from '../src/protocol/index.js';
import { resumableExport } from './fixtures/crash/definitions.js';
import { BACKEND, skipBackend } from './support/backend.js';
import { TASK_QUEUE, useCrashHarness } from './support/crash-harness.js';
import { waitUntil } from './support/processes.js';

/**
 * Long-running activities and live event streams under real crashes
 * (SIGKILL): an activity resumes from its last heartbeat on another worker,
 * and a watcher keeps every event, once and in order, across a server restart.
 */
const skip = await skipBackend();
const { startServerProcess, startWorkerProcess, logLines } = useCrashHarness(skip);

const ROWS = 60;

describe.skipIf(skip)(`long activities under crashes (${BACKEND}, real processes, SIGKILL)`, () => {
  test('an activity killed mid-way resumes on another worker from its last heartbeat details', async () => {
    const server = await startServerProcess();
    const workerA = await startWorkerProcess('worker-a', server.url);
    const client = await Client.connect({ address: server.url });
    const handle = await client.workflow.start(resumableExport, { id: 'export', taskQueue: TASK_QUEUE, args: [ROWS] });

    await waitUntil('worker A to be 30 rows in', async () =>
      (await logLines()).some((l) => l.startsWith('row 30 attempt-1')),
    );
    await workerA.process.kill9();
    const rowsDoneByA = (await logLines()).filter((l) => l.startsWith('row ') && l.includes('attempt-1')).length;

    const workerB = await startWorkerProcess('worker-b', server.url);
    const result = await handle.result();
    expect(result.attempt).toBe(2);
    // B started where A's last heartbeat said, not from row 0. Heartbeats reach the server at most every half
    // heartbeat timeout (1 s = 20 rows here), so at most that many rows, plus the one in progress, are redone.
    const rowsPerHeartbeat = 1000 / 50;
    expect(result.resumedFrom).toBeGreaterThanOrEqual(Math.max(1, rowsDoneByA - rowsPerHeartbeat - 2));
    expect(result.resumedFrom).toBeLessThanOrEqual(rowsDoneByA);
    const lines = await logLines();
    expect(lines).toContain(`resume export attempt-2 from-${result.resumedFrom} pid-${workerB.process.pid}`);
    const rowsOnB = lines.filter((l) => l.startsWith('row ') && l.includes('attempt-2'));
    expect(rowsOnB).toHaveLength(ROWS - result.resumedFrom);

    // The event stream tells the same story: attempt 1 timed out on its heartbeat, attempt 2 finished.
    const events: TaskEvent[] = [];
    for await (const event of handle.watchEvents()) events.push(event);
    const outcomes = events
      .filter((e) => e.source === 'activity' && ['started', 'timed-out', 'retrying', 'completed'].includes(e.kind))
      .map((e) => `${e.kind}#${e.attempt}`);
    expect(outcomes).toEqual(['started#1', 'timed-out#1', 'retrying#1', 'started#2', 'completed#2']);
  }, 40_000);

  test('a watcher connected across a server restart receives every event exactly once, in order', async () => {
    let server = await startServerProcess();
    const port = server.port;
    await startWorkerProcess('worker', server.url);
    const client = await Client.connect({ address: server.url });
    const handle = await client.workflow.start(resumableExport, { id: 'watched', taskQueue: TASK_QUEUE, args: [ROWS] });

    const seen: TaskEvent[] = [];
    const watching = (async () => {
      for await (const event of handle.watchEvents()) seen.push(event);
    })();
    await waitUntil('the watcher to have seen 10 rows of output', async () =>
      seen.some((e) => e.kind === 'stdout' && e.message?.includes('row 10')),
    );
    await server.process.kill9();
    const seenBeforeCrash = seen.length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    server = await startServerProcess(port);
    await watching;

    expect(seenBeforeCrash).toBeGreaterThan(0);
    expect(seen.length).toBeGreaterThan(seenBeforeCrash);
    // Exactly once and in order: seqs are 1..n with no gap and no repeat, across the reconnect.
    expect(seen.map((e) => e.seq)).toEqual(seen.map((_, i) => i + 1));
    expect(seen.at(-1)).toMatchObject({ kind: 'closed', data: { status: 'completed' } });
    // Nothing was lost either: a fresh read of the whole stream is the same list.
    const fresh: TaskEvent[] = [];
    for await (const event of handle.watchEvents()) fresh.push(event);
    expect(fresh).toEqual(seen);
    const output = seen
      .filter((e) => e.kind === 'stdout')
      .map((e) => e.message)
      .join('');
    for (let row = 0; row < ROWS; row++) expect(output).toContain(`row ${row}\n`);
  }, 40_000);
});
