import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { activityInfo, CompleteAsyncError, milestone, progress, stdout } from '../src/activity/index.js';
import { TidewayApiError } from '../src/client/index.js';
import { executeActivity, milestone as workflowMilestone } from '../src/workflow/index.js';
import { skipBackend } from './support/backend.js';
import { compiledScript } from './support/compiled-script.js';
import { createTideway, type TestTideway, TRANSPORTS } from './support/env.js';
import { waitFor } from './support/wait.js';

/** Task tokens handed out by `awaitApproval`, by workflow id and attempt: "another system" keeps them. */
const tokens = new Map<string, string>();

const activities = {
  /** Hands its token to the outside world and returns without a result. */
  async awaitApproval(key: string): Promise<string> {
    const info = activityInfo();
    tokens.set(`${key}#${info.attempt}`, info.taskToken);
    throw new CompleteAsyncError();
  },
  async report(steps: number): Promise<number> {
    for (let i = 1; i <= steps; i++) {
      await progress(i, steps, { unit: 'steps' });
      await stdout(`step ${i}\n`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await milestone('reported', { steps });
    return steps;
  },
};

async function approval(key: string): Promise<string> {
  const decision = await executeActivity(activities.awaitApproval, [key], {
    startToCloseTimeout: '1h',
    retry: { initialInterval: '10ms', maximumAttempts: 3 },
  });
  return `decision: ${decision}`;
}

async function reporter(steps: number): Promise<number> {
  workflowMilestone('reporting');
  return executeActivity(activities.report, [steps], { startToCloseTimeout: '30s' });
}

const workflows = { approval, reporter };

const skip = await skipBackend();

describe.skipIf(skip)('async activity completion', () => {
  describe.each(TRANSPORTS)('over %s', (transport) => {
    let t: TestTideway;
    const taskQueue = `async-${transport}`;

    beforeAll(async () => {
      t = await createTideway(transport);
      await t.startWorker({ taskQueue, workflows, activities });
    });
    afterAll(() => t?.teardown());

    test('an activity completed later by its task token; a second completion is refused', async () => {
      const key = `approve-${transport}`;
      const handle = await t.client.workflow.start(approval, { taskQueue, id: key, args: [key] });
      await waitFor(() => tokens.has(`${key}#1`));
      const token = tokens.get(`${key}#1`)!;
      // The worker freed the slot; the attempt stays open on the server.
      expect((await handle.describe()).pendingActivities).toHaveLength(1);

      expect(await t.client.activities.heartbeat(token, { reviewedBy: 'ana' })).toEqual({ cancelRequested: false });
      await t.client.activities.complete(token, 'approved');
      expect(await handle.result()).toBe('decision: approved');

      await expect(t.client.activities.complete(token, 'again')).rejects.toMatchObject({
        code: 'NotFound',
        message: expect.stringMatching(/already finished|not running/),
      });
      const history = await handle.fetchHistory();
      expect(history.filter((e) => e.type === 'ActivityTaskCompleted')).toHaveLength(1);
    });

    test('a failed attempt is retried; the old attempt token is then stale', async () => {
      const key = `retry-${transport}`;
      const handle = await t.client.workflow.start(approval, { taskQueue, id: key, args: [key] });
      await waitFor(() => tokens.has(`${key}#1`));
      await t.client.activities.fail(tokens.get(`${key}#1`)!, new Error('reviewer unavailable'));
      await waitFor(() => tokens.has(`${key}#2`));
      const stale = t.client.activities.complete(tokens.get(`${key}#1`)!, 'late');
      await expect(stale).rejects.toBeInstanceOf(TidewayApiError);
      await expect(stale).rejects.toMatchObject({
        code: 'NotFound',
        message: expect.stringMatching(/this attempt timed out or failed and attempt 2 is running/),
      });
      await t.client.activities.complete(tokens.get(`${key}#2`)!, 'approved on retry');
      expect(await handle.result()).toBe('decision: approved on retry');
    });
  });

  describe('from outside the SDK', () => {
    let t: TestTideway;
    const taskQueue = 'async-outside';
    const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
    const cli = (...args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [cliScript, ...args],
          { cwd: REPO_ROOT, timeout: 30_000, env: { ...process.env, NO_COLOR: '1', TIDEWAY_ADDRESS: t.server!.url } },
          (error, out, err) =>
            resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout: out, stderr: err }),
        );
      });

    let cliScript: string;

    beforeAll(async () => {
      cliScript = await compiledScript('src/cli/main.ts');
      t = await createTideway('http');
      await t.startWorker({ taskQueue, workflows, activities });
    });
    afterAll(() => t?.teardown());

    test('a plain HTTP POST completes an activity (a webhook)', async () => {
      const handle = await t.client.workflow.start(approval, { taskQueue, id: 'webhook', args: ['webhook'] });
      await waitFor(() => tokens.has('webhook#1'));
      const response = await fetch(`${t.server!.url}/api/v1/namespaces/default/activity-tasks/complete`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          taskToken: tokens.get('webhook#1'),
          identity: 'payments-webhook',
          result: { encoding: 'json/plain', data: 'paid' },
        }),
      });
      expect(response.status).toBe(200);
      expect(await handle.result()).toBe('decision: paid');
      const again = await fetch(`${t.server!.url}/api/v1/namespaces/default/activity-tasks/complete`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ taskToken: tokens.get('webhook#1'), result: { encoding: 'json/plain', data: 'x' } }),
      });
      expect(again.status).toBe(404);
    });

    test('tideway activity complete / fail take the token', async () => {
      const handle = await t.client.workflow.start(approval, { taskQueue, id: 'by-cli', args: ['by-cli'] });
      await waitFor(() => tokens.has('by-cli#1'));
      const failed = await cli('activity', 'fail', tokens.get('by-cli#1')!, '--message', 'not yet');
      expect(failed).toMatchObject({ code: 0, stdout: 'activity attempt failed\n' });
      await waitFor(() => tokens.has('by-cli#2'));
      const badJson = await cli('activity', 'complete', tokens.get('by-cli#2')!, '--result', 'yes');
      expect(badJson.code).not.toBe(0);
      expect(badJson.stderr).toMatch(/--result is not valid JSON/);
      const completed = await cli('activity', 'complete', tokens.get('by-cli#2')!, '--result', '"shipped"');
      expect(completed).toMatchObject({ code: 0, stdout: 'activity completed\n' });
      expect(await handle.result()).toBe('decision: shipped');
      const twice = await cli('activity', 'complete', tokens.get('by-cli#2')!, '--result', '"again"');
      expect(twice.code).toBe(1);
      expect(twice.stderr).toMatch(/no longer leased|not running/);
    });

    test('tideway workflow watch prints milestones, output, progress and the close, then exits', async () => {
      const handle = await t.client.workflow.start(reporter, { taskQueue, id: 'watched', args: [4] });
      const watched = await cli('workflow', 'watch', 'watched');
      expect(await handle.result()).toBe(4);
      expect(watched.code).toBe(0);
      const out = watched.stdout;
      expect(out).toMatch(/workflow\s+milestone\s+reporting/);
      expect(out).toMatch(/report#1\s+started/);
      expect(out).toContain('step 1\nstep 2\n');
      expect(out).toMatch(/report#1 4\/4 steps\s+\[█+\] 100%/);
      expect(out).toMatch(/report#1\s+milestone\s+reported\s+\{"steps":4\}/);
      expect(out).toMatch(/report#1\s+completed/);
      expect(out.trim().split('\n').at(-1)).toMatch(/run\s+closed\s+completed/);

      const json = await cli('workflow', 'watch', 'watched', '--json', '--after', '2');
      const events = json.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { seq: number; kind: string });
      expect(events[0]!.seq).toBe(3);
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 3));
      expect(events.at(-1)!.kind).toBe('closed');
    });
  });
});
