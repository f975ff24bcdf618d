import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ApplicationFailure,
  condition,
  defineQuery,
  defineSignal,
  defineUpdate,
  proxyActivities,
  setHandler,
} from '../src/workflow/index.js';
import { BACKEND, createTestDatabase, skipBackend } from './support/backend.js';
import { compiledScript } from './support/compiled-script.js';
import { createTideway, type TestTideway } from './support/env.js';
import { waitFor } from './support/wait.js';

/**
 * The `tideway` CLI as users run it: a child process (from source) against a
 * real HTTP server on this project's backend, with a worker running the
 * workflows below. Assertions are on what a person or a script would see.
 */
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The CLI compiled from source (see support/compiled-script.ts): it starts in half the time `tsx` takes. */
const CLI = [await compiledScript('src/cli/main.ts')];

const activities = {
  async greet(name: string): Promise<string> {
    return `Hello, ${name}`;
  },
  async explode(): Promise<never> {
    throw ApplicationFailure.nonRetryable('the fuse was lit', 'Boom');
  },
};
const { greet, explode } = proxyActivities<typeof activities>({ startToCloseTimeout: '10s' });

async function cliGreeting(name: string): Promise<string> {
  return await greet(name);
}
async function cliExploding(): Promise<void> {
  await explode();
}

const approve = defineSignal<[by: string]>('approve');
const add = defineSignal<[value: number]>('add');

const approvedByQuery = defineQuery<string | null>('approvedBy');
const rename = defineUpdate<string, [name: string]>('rename');

/** Waits, without a timeout, for someone to approve. */
async function cliApproval(): Promise<string> {
  let approvedBy: string | undefined;
  setHandler(approve, (by) => {
    approvedBy = by;
  });
  setHandler(approvedByQuery, () => approvedBy ?? null);
  setHandler(rename, (name) => `renamed to ${name}`, {
    validator: (name) => {
      if (!name) throw new Error('name must not be empty');
    },
  });
  await condition(() => approvedBy !== undefined);
  return `approved by ${approvedBy}`;
}

/** Collects `add` signals until it has `expected` of them. */
async function cliCollector(expected: number): Promise<number[]> {
  const values: number[] = [];
  setHandler(add, (value) => {
    values.push(value);
  });
  await condition(() => values.length >= expected);
  return values;
}

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `tideway <args>` to completion; colours off so output compares as plain text. */
function runCli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...CLI, ...args],
      { cwd: REPO_ROOT, timeout: 30_000, env: { ...process.env, NO_COLOR: '1', ...env } },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const skip = await skipBackend();

describe.skipIf(skip)('tideway workflow commands', () => {
  let t: TestTideway;
  /** `tideway('workflow list --json')`: words split on spaces; `extra` arguments are passed as they are. */
  const tideway = (command: string, ...extra: string[]) =>
    runCli([...command.split(' '), ...extra], { TIDEWAY_ADDRESS: t.server!.url });

  beforeAll(async () => {
    t = await createTideway('http');
    await t.startWorker({
      taskQueue: 'cli',
      workflows: { cliGreeting, cliExploding, cliApproval, cliCollector },
      activities,
    });
  });
  afterAll(async () => {
    await t?.teardown();
  });

  test('start prints the ids, result prints the result, list/describe/history show the run', async () => {
    const started = await tideway('workflow start cliGreeting --id cli-1 --task-queue cli --args', '["CLI"]');
    expect(started.stderr).toBe('');
    expect(started.code).toBe(0);
    expect(started.stdout).toContain('workflow id: cli-1');
    const runId = /run id:\s+(\S+)/.exec(started.stdout)?.[1];
    expect(runId).toMatch(/^[0-9a-f-]{36}$/);

    const result = await tideway('workflow result cli-1');
    expect(result).toMatchObject({ code: 0, stdout: '"Hello, CLI"\n' });

    const [list, running, described, history] = await Promise.all([
      tideway('workflow list --type cliGreeting'),
      tideway('workflow list --status running --type cliGreeting'),
      tideway('workflow describe cli-1'),
      tideway('workflow history cli-1'),
    ]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/WORKFLOW ID\s+TYPE\s+STATUS/);
    expect(list.stdout).toMatch(/cli-1\s+cliGreeting\s+completed/);
    expect(running.stdout).toContain('No workflows with status running, type cliGreeting');

    expect(described.code).toBe(0);
    expect(described.stdout).toMatch(/Status:\s+completed/);
    expect(described.stdout).toContain(`Run id:          ${runId}`);
    expect(described.stdout).toMatch(/Result:\s+"Hello, CLI"/);
    expect(described.stdout).toContain('Pending activities: none');

    expect(history.code).toBe(0);
    const lines = history.stdout.trim().split('\n');
    expect(lines[2]).toMatch(
      /^1\s+\S+ \S+\s+\+0ms\s+WorkflowExecutionStarted\s+type=cliGreeting taskQueue=cli input=\["CLI"\]/,
    );
    expect(history.stdout).toMatch(/ActivityTaskScheduled\s+activity=greet/);
    expect(lines.at(-1)).toMatch(/WorkflowExecutionCompleted\s+result="Hello, CLI"$/);
  });

  test('--json prints the API response and nothing else', async () => {
    const started = await tideway(
      'workflow start cliGreeting --id cli-json --task-queue cli --json --args',
      '["JSON"]',
    );
    expect(JSON.parse(started.stdout)).toMatchObject({ workflowId: 'cli-json', started: true });
    const { runId } = JSON.parse(started.stdout);

    const result = JSON.parse((await tideway('workflow result cli-json --json')).stdout);
    expect(result).toEqual({ runId, status: 'completed', result: { encoding: 'json/plain', data: 'Hello, JSON' } });

    const [list, described, history] = (
      await Promise.all([
        tideway('workflow list --type cliGreeting --json'),
        tideway(`workflow describe cli-json --run-id ${runId} --json`),
        tideway('workflow history cli-json --json'),
      ])
    ).map((run) => JSON.parse(run.stdout));
    expect(list.executions).toContainEqual(
      expect.objectContaining({
        workflowId: 'cli-json',
        runId,
        status: 'completed',
        historyLength: history.events.length,
      }),
    );
    expect(described).toMatchObject({ workflowId: 'cli-json', runId, status: 'completed', pendingActivities: [] });
    expect(history.runId).toBe(runId);
    expect(history.events[0]).toMatchObject({ eventId: 1, type: 'WorkflowExecutionStarted' });
    expect(history.events.at(-1)).toMatchObject({ type: 'WorkflowExecutionCompleted' });
  });

  test('result of a failed workflow prints the failure and its cause chain, exit code 1', async () => {
    await tideway('workflow start cliExploding --id cli-boom --task-queue cli');
    const [result, json] = await Promise.all([
      tideway('workflow result cli-boom'),
      tideway('workflow result cli-boom --json'),
    ]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('error: workflow "cli-boom" failed');
    expect(result.stderr).toMatch(/ActivityFailure: .*explode/);
    expect(result.stderr).toContain('caused by: Boom: the fuse was lit');

    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'failed', failure: { type: 'ActivityFailure' } });
  });

  test('execute starts a workflow and prints its result; a failed one exits 1 with the failure', async () => {
    const [done, boom, json] = await Promise.all([
      tideway('workflow execute cliGreeting --id cli-exec --task-queue cli --args', '["exec"]'),
      tideway('workflow execute cliExploding --id cli-exec-boom --task-queue cli'),
      tideway('workflow execute cliGreeting --id cli-exec-json --task-queue cli --json --args', '["json"]'),
    ]);
    expect(done).toMatchObject({ code: 0, stdout: '"Hello, exec"\n', stderr: '' });
    expect(boom.code).toBe(1);
    expect(boom.stdout).toBe('');
    expect(boom.stderr).toContain('error: workflow "cli-exec-boom" failed');
    expect(boom.stderr).toContain('caused by: Boom: the fuse was lit');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'completed', result: { data: 'Hello, json' } });
    // The id's first run has closed, so the default reuse policy lets a new run start; its own outcome answers.
    const again = await tideway('workflow execute cliGreeting --id cli-exec --task-queue cli --args', '["again"]');
    expect(again).toMatchObject({ code: 0, stdout: '"Hello, again"\n' });
  });

  test('an unknown workflow id is a clear error, exit code 1, no stack trace', async () => {
    const runs = await Promise.all(
      ['describe', 'result', 'history'].map((command) => tideway(`workflow ${command} no-such-workflow`)),
    );
    for (const run of runs) {
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr.trim()).toBe(
        'error: workflow "no-such-workflow" not found in namespace "default"; check the id and namespace',
      );
    }
  });

  test('bad --args is refused before anything is started', async () => {
    const [notJson, notArray] = await Promise.all([
      tideway('workflow start cliGreeting --id cli-bad --task-queue cli --args', '["x"'),
      tideway('workflow start cliGreeting --id cli-bad --task-queue cli --args', '{"name":"x"}'),
    ]);
    expect(notJson.code).toBe(1);
    expect(notJson.stderr).toContain('--args is not valid JSON');
    expect(notArray.code).toBe(1);
    expect(notArray.stderr).toContain('--args must be a JSON array');
    expect((await tideway('workflow describe cli-bad')).stderr).toContain('not found');
  });

  test('signal delivers a signal to a running workflow, recorded with the CLI as sender', async () => {
    await tideway('workflow start cliApproval --id cli-approve --task-queue cli');
    const signaled = await tideway('workflow signal cli-approve approve --args', '["ana"]');
    expect(signaled).toMatchObject({ code: 0, stderr: '', stdout: 'Sent signal approve to workflow cli-approve\n' });

    expect(await tideway('workflow result cli-approve')).toMatchObject({ code: 0, stdout: '"approved by ana"\n' });
    const history = await tideway('workflow history cli-approve');
    expect(history.stdout).toMatch(/WorkflowExecutionSignaled\s+signal=approve input=\["ana"\] identity=tideway-cli /);
  });

  test('cancel asks a waiting workflow to cancel; it ends as cancelled', async () => {
    await tideway('workflow start cliApproval --id cli-cancel --task-queue cli');
    const cancelled = await tideway('workflow cancel cli-cancel --reason obsolete');
    expect(cancelled).toMatchObject({ code: 0, stdout: expect.stringContaining('Requested cancellation') });
    const result = await tideway('workflow result cli-cancel');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cancelled/);
    const described = JSON.parse((await tideway('workflow describe cli-cancel --json')).stdout);
    expect(described.status).toBe('cancelled');
  });

  test('update runs an update handler and prints its result; a rejected update exits 1', async () => {
    await tideway('workflow start cliApproval --id cli-update --task-queue cli');
    expect(await tideway('workflow update cli-update rename --args', '["bee"]')).toMatchObject({
      code: 0,
      stdout: '"renamed to bee"\n',
    });
    const rejected = await tideway('workflow update cli-update rename --args', '[""]');
    expect(rejected.code).toBe(1);
    expect(rejected.stderr).toMatch(/rejected: name must not be empty/);
    await tideway('workflow terminate cli-update');
  });

  test('query reads state through a query handler; unknown queries exit 1 naming the handled ones', async () => {
    await tideway('workflow start cliApproval --id cli-query --task-queue cli');
    expect(await tideway('workflow query cli-query approvedBy')).toMatchObject({ code: 0, stdout: 'null\n' });
    await tideway('workflow signal cli-query approve --args', '["cy"]');
    await tideway('workflow result cli-query');
    const answered = await tideway('workflow query cli-query approvedBy --json');
    expect(JSON.parse(answered.stdout)).toEqual({ result: 'cy' });
    const unknown = await tideway('workflow query cli-query nope');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no handler for query "nope".*approvedBy/);
  });

  test('signal --json prints {"ok": true}; --run-id picks the run', async () => {
    const started = JSON.parse(
      (await tideway('workflow start cliApproval --id cli-approve-json --task-queue cli --json')).stdout,
    );
    const signaled = await tideway(
      `workflow signal cli-approve-json approve --run-id ${started.runId} --json --args`,
      '["bo"]',
    );
    expect(signaled.code).toBe(0);
    expect(JSON.parse(signaled.stdout)).toEqual({ ok: true });
    expect(await tideway('workflow result cli-approve-json')).toMatchObject({ code: 0, stdout: '"approved by bo"\n' });

    const wrongRun = await tideway('workflow signal cli-approve-json approve --run-id no-such-run --args', '["x"]');
    expect(wrongRun.code).toBe(1);
    expect(wrongRun.stderr).toContain('not found');
  });

  test("signal to a completed or unknown workflow prints the server's message, exit code 1", async () => {
    await tideway('workflow start cliGreeting --id cli-done --task-queue cli --args', '["done"]');
    await tideway('workflow result cli-done');
    const [closed, unknown] = await Promise.all([
      tideway('workflow signal cli-done approve --args', '["late"]'),
      tideway('workflow signal no-such-workflow approve'),
    ]);
    expect(closed.code).toBe(1);
    expect(closed.stdout).toBe('');
    expect(closed.stderr).toMatch(/^error: cannot signal: workflow "cli-done" is not running \(status: completed\)/);
    expect(closed.stderr).not.toMatch(/\n\s+at /);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('error: workflow "no-such-workflow" not found in namespace "default"');
  });

  test('signal-with-start starts a run with the signal, then signals the running one', async () => {
    const sws = (signalArgs: string) =>
      tideway(
        'workflow signal-with-start cliCollector add --id cli-sws --task-queue cli --json --args [2] --signal-args',
        signalArgs,
      );
    const first = await sws('[10]');
    expect(first).toMatchObject({ code: 0, stderr: '' });
    const started = JSON.parse(first.stdout);
    expect(started).toEqual({ workflowId: 'cli-sws', runId: expect.stringMatching(/^[0-9a-f-]{36}$/), started: true });

    const second = await sws('[20]');
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toEqual({ workflowId: 'cli-sws', runId: started.runId, started: false });

    expect(await tideway('workflow result cli-sws')).toMatchObject({ code: 0, stdout: '[10,20]\n' });
    const history = JSON.parse((await tideway('workflow history cli-sws --json')).stdout);
    expect(history.events.slice(0, 2).map((e: { type: string }) => e.type)).toEqual([
      'WorkflowExecutionStarted',
      'WorkflowExecutionSignaled',
    ]);
  });

  test('signal-with-start says whether it started a run or signalled the running one', async () => {
    const sws = (signalArgs: string) =>
      tideway(
        'workflow signal-with-start cliCollector add --id cli-sws-human --task-queue cli --args [2] --signal-args',
        signalArgs,
      );
    const first = await sws('[1]');
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('Started workflow cliCollector with signal add');
    expect(first.stdout).toContain('workflow id: cli-sws-human');
    const runId = /run id:\s+(\S+)/.exec(first.stdout)?.[1];
    expect(runId).toMatch(/^[0-9a-f-]{36}$/);

    const second = await sws('[7]');
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('Sent signal add to the running workflow (no new run started)');
    expect(second.stdout).toContain(`run id:      ${runId}`);
    expect(await tideway('workflow result cli-sws-human')).toMatchObject({ code: 0, stdout: '[1,7]\n' });
  });

  test('bad --args or --signal-args is refused, naming the option', async () => {
    const [signalNotJson, signalNotArray, swsArgs, swsSignalArgs] = await Promise.all([
      tideway('workflow signal cli-x approve --args', '["x"'),
      tideway('workflow signal cli-x approve --args', '"x"'),
      tideway('workflow signal-with-start cliCollector add --id cli-x --task-queue cli --args', '{}'),
      tideway('workflow signal-with-start cliCollector add --id cli-x --task-queue cli --signal-args', '[1'),
    ]);
    for (const run of [signalNotJson, signalNotArray, swsArgs, swsSignalArgs]) {
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
    }
    expect(signalNotJson.stderr).toContain('--args is not valid JSON');
    expect(signalNotArray.stderr).toContain("--args must be a JSON array of the signal's arguments");
    expect(swsArgs.stderr).toContain("--args must be a JSON array of the workflow's arguments");
    expect(swsSignalArgs.stderr).toContain('--signal-args is not valid JSON');
    expect((await tideway('workflow describe cli-x')).stderr).toContain('not found');
  });

  test('terminate ends a running workflow as terminated, with the reason', async () => {
    await tideway('workflow start cliApproval --id cli-term --task-queue cli');
    await waitFor(
      async () => JSON.parse((await tideway('workflow describe cli-term --json')).stdout).historyLength >= 3,
      { what: 'the first workflow task', timeoutMs: 20_000 },
    );
    const terminated = await tideway('workflow terminate cli-term --reason', 'operator said so');
    expect(terminated).toMatchObject({
      code: 0,
      stderr: '',
      stdout: 'Terminated workflow cli-term: operator said so\n',
    });

    const described = JSON.parse((await tideway('workflow describe cli-term --json')).stdout);
    expect(described).toMatchObject({
      status: 'terminated',
      failure: { type: 'TerminatedFailure', message: 'operator said so' },
      pendingActivities: [],
    });
    expect(described.pendingWorkflowTask).toBeUndefined();
    const history = JSON.parse((await tideway('workflow history cli-term --json')).stdout);
    expect(history.events.at(-1)).toMatchObject({
      type: 'WorkflowExecutionTerminated',
      attributes: { reason: 'operator said so', identity: expect.stringMatching(/^tideway-cli /) },
    });
    const result = await tideway('workflow result cli-term');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('error: workflow "cli-term" terminated');

    const again = await tideway('workflow terminate cli-term --json');
    expect(again.code).toBe(1);
    expect(again.stdout).toBe('');
    expect(again.stderr).toContain('is not running (status: terminated)');
  });

  test('terminate --json prints {"ok": true} and records a default reason', async () => {
    await tideway('workflow start cliApproval --id cli-term-json --task-queue cli');
    const terminated = await tideway('workflow terminate cli-term-json --json');
    expect(terminated.code).toBe(0);
    expect(JSON.parse(terminated.stdout)).toEqual({ ok: true });
    const described = await tideway('workflow describe cli-term-json');
    expect(described.stdout).toMatch(/Status:\s+terminated/);
    expect(described.stdout).toContain('TerminatedFailure: terminated with the tideway CLI');
  });

  test('an unreachable server is a clear error naming the address', async () => {
    const run = await runCli(['workflow', 'list', '--address', 'http://127.0.0.1:1']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('cannot reach the Tideway server at http://127.0.0.1:1');
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  test('server refuses a port in use, saying how to pick another', async () => {
    const run = await tideway(`server --port ${t.server!.port}`);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`port ${t.server!.port} on 127.0.0.1 is already in use`);
    expect(run.stderr).toContain('--port');
  });

  test('--version prints the package version', async () => {
    const run = await tideway('--version');
    expect(run).toMatchObject({ code: 0, stdout: '0.1.0\n' });
  });
});

describe.skipIf(skip)('tideway server', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tideway-cli-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  test('serves on the chosen store, prints where, and exits 0 on SIGTERM', async () => {
    const database = BACKEND === 'postgres' ? await createTestDatabase() : undefined;
    const storeArgs = database ? ['--database-url', database.url] : ['--data-dir', join(dataDir, 'data')];
    const server = spawn(process.execPath, [...CLI, 'server', '--port', '0', ...storeArgs], {
      cwd: REPO_ROOT,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    server.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
    try {
      const [line] = await Promise.race([
        new Promise<string[]>((resolve) => createInterface({ input: server.stdout }).once('line', (l) => resolve([l]))),
        exited.then((code) => {
          throw new Error(`server exited with ${code}: ${stderr}`);
        }),
      ]);
      expect(line).toMatch(
        /^Tideway server listening on http:\/\/127\.0\.0\.1:\d+ \(store: .*\); press Ctrl-C to stop$/,
      );
      expect(line).toContain(database ? 'store: PostgreSQL postgres://' : `store: PGlite in ${join(dataDir, 'data')}`);
      const url = /listening on (\S+)/.exec(line!)![1];
      const health = await fetch(`${url}/healthz`);
      expect(await health.json()).toMatchObject({ status: 'ok' });

      server.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stderr).toContain('server stopped');
    } finally {
      server.kill('SIGKILL');
      await database?.drop();
    }
  });
});
