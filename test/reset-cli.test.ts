import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApplicationFailure, proxyActivities, sleep } from '../src/workflow/index.js';
import { skipBackend } from './support/backend.js';
import { compiledScript } from './support/compiled-script.js';
import { createTideway, type TestTideway } from './support/env.js';
import { waitFor } from './support/wait.js';

/**
 * `tideway workflow list --failing / --status`, `workflow reset` and
 * `workflow bulk` as people and scripts run them: the CLI in a child
 * process against a real HTTP server, with a worker in this process.
 */
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The CLI compiled from source (see support/compiled-script.ts): it starts in half the time `tsx` takes. */
const CLI = [await compiledScript('src/cli/main.ts')];

let shippingWorks = false;
const packCalls = new Map<string, number>();
const activities = {
  async pack(key: string): Promise<string> {
    packCalls.set(key, (packCalls.get(key) ?? 0) + 1);
    return `box ${key}`;
  },
  async ship(box: string): Promise<string> {
    if (!shippingWorks) throw ApplicationFailure.nonRetryable('carrier API rejected the label', 'LabelBug');
    return `shipped ${box}`;
  },
};
const { pack, ship } = proxyActivities<typeof activities>({ startToCloseTimeout: '10s' });

async function cliShipment(key: string): Promise<string> {
  return await ship(await pack(key));
}
/** Every workflow task fails: setTimeout is not allowed in workflow code. */
async function cliPoison(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 1));
}
async function cliNap(): Promise<void> {
  await sleep('1h');
}

function runCli(args: string[], env: Record<string, string>) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [...CLI, ...args],
      { cwd: REPO_ROOT, timeout: 30_000, env: { ...process.env, NO_COLOR: '1', ...env } },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
      },
    );
  });
}

const skip = await skipBackend();

describe.skipIf(skip)('tideway workflow list --failing, reset and bulk', () => {
  let t: TestTideway;
  const taskQueue = 'cli-reset';
  const tideway = (command: string, ...extra: string[]) =>
    runCli([...command.split(' '), ...extra], { TIDEWAY_ADDRESS: t.server!.url });

  beforeAll(async () => {
    t = await createTideway('http');
    await t.startWorker({ taskQueue, workflows: { cliShipment, cliPoison, cliNap }, activities });
  });
  afterAll(async () => {
    await t?.teardown();
  });

  test('list --failing shows poison workflows with their error; --status failed / timed-out list closed runs', async () => {
    const poison = await t.client.workflow.start(cliPoison, { id: 'cli-poison', taskQueue });
    const failed = await t.client.workflow.start(cliShipment, { id: 'cli-failed', taskQueue, args: ['f'] });
    const nap = await t.client.workflow.start(cliNap, { id: 'cli-nap', taskQueue, runTimeout: '1m' });
    await expect(failed.result()).rejects.toThrow(/carrier API rejected/);
    await waitFor(async () => (await nap.fetchHistory()).some((e) => e.type === 'TimerStarted'), { what: 'the nap' });
    t.skipTime('2m');
    await expect(nap.result()).rejects.toThrow(/timed out/);
    await waitFor(async () => (await poison.describe()).workflowTaskFailure, { what: 'the poison to fail' });

    const [failing, failingJson, byFailed, byTimedOut] = await Promise.all([
      tideway('workflow list --failing'),
      tideway('workflow list --failing --json'),
      tideway('workflow list --status failed'),
      tideway('workflow list --status timed-out --json'),
    ]);
    expect(failing.code).toBe(0);
    expect(failing.stdout).toMatch(/WORKFLOW ID\s+TYPE\s+FAILURES\s+CAUSE\s+NEXT ATTEMPT\s+LAST ERROR/);
    expect(failing.stdout).toMatch(
      /cli-poison\s+cliPoison\s+\d+\s+determinism-violation\s+.+setTimeout\(\) cannot be used in workflow code/,
    );
    expect(failing.stdout).not.toContain('cli-failed');
    const listed = JSON.parse(failingJson.stdout);
    expect(listed.executions).toEqual([
      expect.objectContaining({
        workflowId: 'cli-poison',
        status: 'running',
        workflowTaskFailure: expect.objectContaining({ cause: 'determinism-violation', failures: expect.any(Number) }),
      }),
    ]);
    expect(byFailed.stdout).toMatch(/cli-failed\s+cliShipment\s+failed/);
    expect(byFailed.stdout).not.toMatch(/cli-nap|cli-poison/);
    expect(JSON.parse(byTimedOut.stdout).executions.map((e: { workflowId: string }) => e.workflowId)).toEqual([
      'cli-nap',
    ]);
  });

  test('workflow reset re-drives a failed run with the fix; bad reset points are explained', async () => {
    const handle = await t.client.workflow.start(cliShipment, { id: 'cli-ship', taskQueue, args: ['s'] });
    await expect(handle.result()).rejects.toThrow(/carrier API rejected/);
    const history = await handle.fetchHistory();
    const shipScheduled = history.find(
      (e) => e.type === 'ActivityTaskScheduled' && e.attributes.activityType === 'ship',
    )!;
    const boundary = history
      .filter((e) => e.type === 'WorkflowTaskCompleted' && e.eventId < shipScheduled.eventId)
      .pop()!;

    const [noPoint, notBoundary] = await Promise.all([
      tideway('workflow reset cli-ship'),
      tideway(`workflow reset cli-ship --event-id ${shipScheduled.eventId}`),
    ]);
    expect(noPoint.code).toBe(1);
    expect(noPoint.stderr).toContain('error: give exactly one reset point: --event-id <n>');
    expect(notBoundary.code).toBe(1);
    expect(notBoundary.stderr).toMatch(
      new RegExp(
        `event ${shipScheduled.eventId} \\(ActivityTaskScheduled\\) is not a workflow task boundary.*${boundary.eventId}`,
      ),
    );

    shippingWorks = true;
    try {
      const reset = await tideway(`workflow reset cli-ship --event-id ${boundary.eventId} --reason`, 'label bug fixed');
      expect(reset.stderr).toBe('');
      expect(reset.code).toBe(0);
      expect(reset.stdout).toContain(`from run:   ${handle.runId} at event ${boundary.eventId}`);
      const newRunId = /new run:\s+(\S+)/.exec(reset.stdout)?.[1];
      expect(newRunId).toMatch(/^[0-9a-f-]{36}$/);
      expect(await tideway('workflow result cli-ship')).toMatchObject({ code: 0, stdout: '"shipped box s"\n' });
      expect(packCalls.get('s')).toBe(1);
      const newHistory = await tideway(`workflow history cli-ship --run-id ${newRunId}`);
      expect(newHistory.stdout).toMatch(
        new RegExp(
          `WorkflowTaskFailed\\s+cause=reset .*reset from run ${handle.runId} at event ${boundary.eventId}: label bug fixed`,
        ),
      );
    } finally {
      shippingWorks = false;
    }
  });

  test('workflow bulk previews without --yes (exit 1, nothing changed), then terminates with --yes', async () => {
    const ids = ['cli-bulk-0', 'cli-bulk-1'];
    for (const id of ids) await t.client.workflow.start(cliPoison, { id, taskQueue });
    await waitFor(
      async () => {
        const failing: string[] = [];
        for await (const run of t.client.workflow.list({ workflowTaskFailing: true })) failing.push(run.workflowId);
        return ids.every((id) => failing.includes(id));
      },
      { what: 'both runs to fail' },
    );

    const [preview, dryRunJson] = await Promise.all([
      tideway('workflow bulk terminate --failing --type cliPoison'),
      tideway('workflow bulk terminate --failing --type cliPoison --dry-run --json'),
    ]);
    expect(preview.code).toBe(1);
    expect(preview.stdout).toContain('3 run(s) match; 3 would be terminated');
    expect(preview.stdout).toMatch(/cli-bulk-1\s+\S+\s+cliPoison\s+running/);
    expect(preview.stdout).toContain('Nothing was changed. Run again with --yes to terminate them.');
    expect(dryRunJson.code).toBe(0);
    expect(JSON.parse(dryRunJson.stdout)).toMatchObject({ operation: 'terminate', dryRun: true, matched: 3 });
    for (const id of ids) expect((await t.client.workflow.getHandle(id).describe()).status).toBe('running');

    const done = await tideway('workflow bulk terminate --failing --type cliPoison --yes --reason', 'poison cleanup');
    expect(done.code).toBe(0);
    expect(done.stdout).toContain('3 run(s) terminated');
    expect(done.stdout).toMatch(/cli-poison\s+\S+\s+cliPoison\s+running\s+terminated/);
    for (const id of [...ids, 'cli-poison']) {
      expect((await t.client.workflow.getHandle(id).describe()).status).toBe('terminated');
    }
    const wrong = await tideway('workflow bulk explode --failing');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/'explode' is invalid for argument 'operation'.*terminate, cancel, reset/);
  });
});
