// A benchmark process of its own: a TypeScript file run with
// `node --import tsx --conditions=source`, which reports by printing
// `<TAG> <json>` lines on stdout (READY when it serves, COUNTS when it ends).
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ChildScript {
  readonly name: string;
  /** Resolves with the JSON of the first `<tag> {...}` line; rejects if the process exits first. */
  message<T>(tag: string, timeoutMs?: number): Promise<T>;
  /** SIGTERM, then the exit; SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export function spawnScript(file: string, name: string, env: Record<string, string>): ChildScript {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      // BENCH_CPU_PROF=<dir>: each spawned process writes a CPU profile there when it exits.
      ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
      '--import',
      'tsx',
      '--conditions=source',
      fileURLToPath(new URL(file, import.meta.url)),
    ],
    { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  let exited = false;
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', (chunk: Buffer) => {
    onData(chunk);
    if (process.env.BENCH_VERBOSE) process.stderr.write(`[${name}] ${chunk.toString('utf8')}`);
  });
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      for (const listener of listeners) listener();
      resolve();
    });
  });

  return {
    name,
    message<T>(tag: string, timeoutMs = 60_000) {
      return new Promise<T>((resolve, reject) => {
        const check = () => {
          // Only whole lines: a long message can arrive in several chunks.
          const line = output
            .split('\n')
            .slice(0, -1)
            .find((l) => l.startsWith(`${tag} `));
          if (line) {
            done();
            resolve(JSON.parse(line.slice(tag.length + 1)) as T);
          } else if (exited) {
            done();
            reject(new Error(`${name} exited before reporting ${tag}; its output:\n${output}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${name} did not report ${tag} within ${timeoutMs} ms; its output:\n${output}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    async stop(graceMs = 30_000) {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** Prints a `<TAG> <json>` line for the parent. */
export function report(tag: string, value: unknown): void {
  process.stdout.write(`${tag} ${JSON.stringify(value)}\n`);
}
