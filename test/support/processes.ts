import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { compiledScript } from './compiled-script.js';

/**
 * Child processes for fault-injection tests: a TypeScript script, compiled
 * from source (see compiled-script.ts) and run with `node`, its output
 * collected, waited on by line, and killed for real (SIGKILL). Every child
 * is registered so `killAllChildren()` (call it in afterEach) leaves nothing
 * running, even when a test fails half-way.
 */
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ChildScript {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves when the process has exited (by itself or killed). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything it wrote so far, stdout and stderr interleaved as received. */
  output(): string;
  /** Waits for a line of output matching `pattern` (already written or still to come). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGKILL: no shutdown hooks, no flushing, no goodbye. Resolves once the process is gone. */
  kill9(): Promise<void>;
}

const children = new Set<ChildScript>();

/** Runs a TypeScript file (path relative to the repository root or absolute) as a child process. */
export async function spawnScript(
  file: string,
  options: { name: string; env?: Record<string, string> },
): Promise<ChildScript> {
  const child = spawn(process.execPath, [await compiledScript(file)], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not spawn ${options.name} (${file})`);
  let output = '';
  const listeners = new Set<() => void>();
  const append = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  let hasExited = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      hasExited = true;
      for (const listener of listeners) listener();
      resolve({ code, signal });
    });
  });
  const handle: ChildScript = {
    name: options.name,
    pid: child.pid,
    child,
    exited,
    output: () => output,
    waitForLine(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          // Only whole lines: a chunk may end mid-line ("…127.0.0.1:4" of a longer port).
          const lines = output.split('\n');
          if (!hasExited) lines.pop();
          for (const line of lines) {
            const match = line.match(pattern);
            if (match) {
              done();
              resolve(match);
              return;
            }
          }
          if (hasExited) {
            done();
            reject(new Error(`${options.name} exited before printing ${pattern}; its output:\n${output}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${options.name} did not print ${pattern} within ${timeoutMs} ms; its output:\n${output}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    async kill9() {
      if (!hasExited) process.kill(child.pid as number, 'SIGKILL');
      await exited;
    },
  };
  children.add(handle);
  void exited.then(() => children.delete(handle));
  return handle;
}

/** SIGKILLs every child still running; for afterEach/afterAll. */
export async function killAllChildren(): Promise<void> {
  await Promise.all([...children].map((c) => c.kill9()));
}

// Last resort if the test runner exits without running afterEach (the 'exit' handler must be synchronous).
process.once('exit', () => {
  for (const c of children) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

/**
 * Polls `probe` until it returns something other than undefined/false, or
 * throws after `timeoutMs` saying what it was waiting for. Errors thrown by
 * the probe (e.g. the server is down) count as "not yet".
 */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const cause = lastError ? ` (last error: ${(lastError as Error).message ?? String(lastError)})` : '';
      throw new Error(`timed out after ${options.timeoutMs ?? 15_000} ms waiting for ${what}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 25));
  }
}

/** Waits until GET <url>/healthz answers 200 (the server is up and its store answers). */
export async function waitForHealthy(url: string, timeoutMs = 20_000): Promise<void> {
  await waitUntil(
    `${url}/healthz`,
    async () => {
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      await response.body?.cancel();
      return response.ok;
    },
    { timeoutMs, intervalMs: 50 },
  );
}
