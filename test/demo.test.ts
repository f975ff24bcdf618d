import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

/**
 * `npm start` as a new user meets it: the built server, the hello example's
 * worker and client, all real processes. It runs on the embedded store only,
 * so it runs in the pglite project alone; data goes to a temporary directory
 * and the server to a free port, so a developer's own server is untouched.
 */
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

function run(command: string, args: string[], env: Record<string, string> = {}, timeout = 90_000) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      command,
      args,
      { cwd: REPO_ROOT, timeout, env: { ...process.env, NO_COLOR: '1', ...env } },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
      },
    );
  });
}

/** A port nothing listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

describe.skipIf(process.env.TIDEWAY_TEST_BACKEND === 'postgres')('npm start demo', () => {
  let dataDir: string;

  beforeAll(async () => {
    // The demo runs the server from dist/, so it tests the build users get.
    const build = await run('npm', ['run', 'build'], {}, 120_000);
    if (build.code !== 0) throw new Error(`npm run build failed:\n${build.stdout}\n${build.stderr}`);
    dataDir = await mkdtemp(join(tmpdir(), 'tideway-demo-'));
  }, 150_000);
  afterAll(async () => {
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  test('runs sayHello end to end and exits 0 with --exit', async () => {
    const port = await freePort();
    const demo = await run(process.execPath, ['scripts/demo.mjs', '--exit'], {
      TIDEWAY_PORT: String(port),
      TIDEWAY_DATA_DIR: join(dataDir, 'data'),
    });
    expect(demo.stderr).toBe('');
    expect(demo.code).toBe(0);
    expect(demo.stdout).toContain(`[server] Tideway server listening on http://127.0.0.1:${port}`);
    expect(demo.stdout).toMatch(/\[worker\] .*polling task queue "hello"/);
    expect(demo.stdout).toContain('[client] Result: Hello, World');
    expect(demo.stdout).toMatch(/Workflow sayHello completed with "Hello, World" in \d+\.\d\ds/);
    expect(demo.stdout).toContain('[server] server stopped');
  }, 120_000);

  test('says so clearly when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const demo = await run(process.execPath, ['scripts/demo.mjs', '--exit'], { TIDEWAY_PORT: String(port) });
      expect(demo.code).toBe(1);
      expect(demo.stderr).toContain(`port ${port} is in use (another program uses it)`);
      expect(demo.stderr).toContain(`TIDEWAY_PORT=${port + 1} npm start`);
    } finally {
      blocker.close();
    }
  });
});
