// What `npm start` runs (after a build): a Tideway server on the embedded
// store, the hello example's worker, and its client, each a child process as
// they would be in real life. Prints the workflow's result, then keeps the
// server and worker running for you to explore with the CLI until Ctrl-C.
//
//   node scripts/demo.mjs          keep running until Ctrl-C
//   node scripts/demo.mjs --exit   stop once the workflow completed (tests, CI); or TIDEWAY_DEMO_EXIT=1
//
// Environment: TIDEWAY_PORT (default 7233), TIDEWAY_DATA_DIR (default .tideway/data).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pc from 'picocolors';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const EXIT_WHEN_DONE = process.argv.includes('--exit') || process.env.TIDEWAY_DEMO_EXIT === '1';
const DEFAULT_PORT = 7233;
const PORT = Number(process.env.TIDEWAY_PORT ?? DEFAULT_PORT);
const ADDRESS = `http://127.0.0.1:${PORT}`;
/** Generous: the first start of the embedded store creates its files and runs migrations. */
const SERVER_START_TIMEOUT_MS = 60_000;
const WORKFLOW_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;

/** @type {{ name: string, process: import('node:child_process').ChildProcess, exited: Promise<number | null> }[]} */
const children = [];
let stopping = false;
/** Set once the workflow completed: from then on, Ctrl-C is the normal way to end the demo (exit code 0). */
let completed = false;

class DemoError extends Error {}

async function main() {
  const startedAt = Date.now();
  if (!Number.isInteger(PORT) || PORT < 1 || PORT > 65_535) {
    throw new DemoError(`TIDEWAY_PORT must be a port number from 1 to 65535 (got "${process.env.TIDEWAY_PORT}")`);
  }
  if (!existsSync(new URL('../dist/cli/main.js', import.meta.url))) {
    throw new DemoError('dist/ is missing: run `npm run build` first (`npm start` builds, then runs this demo)');
  }
  await assertPortFree();
  console.log(pc.bold('Tideway demo: a durable workflow, end to end\n'));

  const dataDir = process.env.TIDEWAY_DATA_DIR ?? '.tideway/data';
  if (!process.env.DATABASE_URL && !existsSync(new URL(dataDir, new URL('..', import.meta.url)))) {
    console.log(pc.dim(`First start: creating the embedded database in ${dataDir} (a few seconds)...`));
  }
  const server = startChild('server', ['dist/cli/main.js', 'server', '--port', String(PORT)], pc.cyan);
  await waitForHealthy(server);
  const worker = startChild('worker', ['--import', 'tsx', 'examples/hello/worker.ts'], pc.magenta);
  await waitForFirstLine(worker);

  const client = startChild('client', ['--import', 'tsx', 'examples/hello/client.ts'], pc.blue);
  let clientOutput = '';
  client.process.stdout?.on('data', (chunk) => {
    clientOutput += chunk;
  });
  const clientCode = await withTimeout(
    client.exited,
    WORKFLOW_TIMEOUT_MS,
    'the hello workflow did not complete within 60s; see the [server] and [worker] output above',
  );
  if (clientCode !== 0)
    throw new DemoError(`the example client failed (exit code ${clientCode}); see its output above`);
  const workflowId = /Started workflow (\S+)/.exec(clientOutput)?.[1];
  if (!workflowId) throw new DemoError('the example client did not print the id of the workflow it started');

  // Imported here, not at the top: it resolves to dist/, whose absence is reported above.
  const { Client } = await import('tideway/client');
  const tideway = await Client.connect({ address: ADDRESS });
  const run = await tideway.workflow.getHandle(workflowId).describe();
  const result = run.result?.data;
  const tookMs = (run.closeTime ?? Date.now()) - run.startTime;
  console.log('');
  if (run.status !== 'completed') throw new DemoError(`workflow ${workflowId} ended ${run.status}, not completed`);
  console.log(
    `${pc.green('✔')} Workflow ${pc.bold('sayHello')} completed with ${pc.bold(JSON.stringify(result))} ` +
      `in ${(tookMs / 1000).toFixed(2)}s (1s of it a durable timer); ${run.historyLength} events in its history.`,
  );
  console.log(pc.dim(`  Demo ready ${((Date.now() - startedAt) / 1000).toFixed(1)}s after launch.`));

  completed = true;
  if (EXIT_WHEN_DONE) return stopAll(0);
  printNextSteps(workflowId);
}

function printNextSteps(workflowId) {
  const addressHint = PORT === DEFAULT_PORT ? '' : ` (first: export TIDEWAY_ADDRESS=${ADDRESS})`;
  const lines = [
    '',
    pc.bold(`The server (${ADDRESS}) and the worker keep running. In another terminal, try${addressHint}:`),
    '',
    `  npx tideway workflow list`,
    `  npx tideway workflow describe ${workflowId}`,
    `  npx tideway workflow history ${workflowId}`,
    `  npx tideway workflow start sayHello --id my-hello --task-queue hello --args '["Tideway"]'`,
    `  npx tideway workflow result my-hello`,
    '',
    `Code: examples/hello/ (workflows.ts, activities.ts, worker.ts, client.ts). CLI reference: docs/cli.md`,
    `Data stays in ${process.env.TIDEWAY_DATA_DIR ?? '.tideway/data'}; delete it to start afresh.`,
    '',
    pc.bold('Press Ctrl-C to stop.'),
  ];
  console.log(lines.join('\n'));
}

/**
 * Starts `node <args>` from the repository root with its output prefixed by
 * `[name]`. Children get their own process group, so Ctrl-C reaches only
 * this script, which then stops them in order: worker first, then server.
 */
function startChild(name, args, color) {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, TIDEWAY_ADDRESS: ADDRESS },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const prefix = color(`[${name}]`);
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => console.log(`${prefix} ${line}`));
  }
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ? null : code)));
  const entry = { name, process: child, exited };
  children.push(entry);
  if (name !== 'client') {
    void exited.then((code) => {
      if (stopping) return;
      console.error(pc.red(`error: the ${name} exited unexpectedly (exit code ${code}); see its output above`));
      void stopAll(1);
    });
  }
  return entry;
}

/** Polls GET /healthz until the server answers; fails early if the server process exits. */
async function waitForHealthy(server) {
  const deadline = Date.now() + SERVER_START_TIMEOUT_MS;
  let exited = false;
  void server.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadline) {
    if (exited) throw new DemoError('the server exited before it was ready; see its output above');
    try {
      const response = await fetch(`${ADDRESS}/healthz`);
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new DemoError(`the server did not answer ${ADDRESS}/healthz within 60s`);
}

/** Waits until a child says something (the worker logs once it polls), so the output reads in order. */
async function waitForFirstLine(child) {
  const firstLine = new Promise((resolve) => child.process.stdout?.once('data', () => resolve('started')));
  const outcome = await withTimeout(
    Promise.race([firstLine, child.exited.then(() => 'exited')]),
    SERVER_START_TIMEOUT_MS,
    `the ${child.name} did not start within 60s`,
  );
  if (outcome === 'exited') throw new DemoError(`the ${child.name} exited before it started; see its output above`);
}

/** Fails with a message that says what to do when the demo's port is taken. */
async function assertPortFree() {
  const error = await new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', resolve);
    probe.listen({ host: '127.0.0.1', port: PORT, exclusive: true }, () => probe.close(() => resolve(undefined)));
  });
  if (!error) return;
  if (error.code !== 'EADDRINUSE') throw error;
  // Bounded: whatever holds the port may accept connections and never answer.
  const isTideway = await fetch(`${ADDRESS}/healthz`, { signal: AbortSignal.timeout(2000) }).then(
    (response) => response.ok,
    () => false,
  );
  const what = isTideway ? 'a Tideway server is already running there; stop it first' : 'another program uses it';
  throw new DemoError(
    `port ${PORT} is in use (${what}), or run the demo on another port: TIDEWAY_PORT=${PORT + 1} npm start`,
  );
}

/** Stops children in reverse start order (client, worker, server) with SIGTERM, then SIGKILL if one hangs. */
async function stopAll(exitCode) {
  if (stopping) return;
  stopping = true;
  for (const child of [...children].reverse()) {
    if (child.process.exitCode !== null || child.process.signalCode !== null) continue;
    child.process.kill('SIGTERM');
    const stopped = await Promise.race([
      child.exited.then(() => true),
      new Promise((resolve) => setTimeout(() => resolve(false), STOP_TIMEOUT_MS)),
    ]);
    if (!stopped) {
      console.error(pc.red(`error: the ${child.name} did not stop within ${STOP_TIMEOUT_MS / 1000}s; killing it`));
      child.process.kill('SIGKILL');
      exitCode = 1;
    }
  }
  process.exit(exitCode);
}

function withTimeout(promise, ms, message) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new DemoError(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    if (!stopping) console.log('\nStopping the worker and the server...');
    void stopAll(completed ? 0 : 130);
  });
}

// A crash of this script must not leave a server or worker running in the background.
process.on('exit', () => {
  for (const child of children) {
    if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
  }
});

main().catch((error) => {
  console.error(pc.red(`error: ${error instanceof DemoError ? error.message : (error?.stack ?? error)}`));
  void stopAll(1);
});
