// Server mode, the workers: BENCH_WORKERS workers (default 1) in this process
// polling the server at BENCH_ADDRESS over HTTP; BENCH_CACHE=off disables the
// sticky cache. Stops on SIGTERM once in-flight tasks are done.
import { Worker } from '../../src/worker/index.js';
import { report } from '../support/child-script.js';
import { activities, quietLogger, TASK_QUEUE, workflows } from './tideway-workflows.js';

const address = process.env.BENCH_ADDRESS;
if (!address) throw new Error('BENCH_ADDRESS is required');
const count = Number(process.env.BENCH_WORKERS ?? 1);
const running: { worker: Worker; done: Promise<void> }[] = [];
for (let i = 0; i < count; i++) {
  const worker = await Worker.create({
    address,
    taskQueue: TASK_QUEUE,
    workflows,
    activities,
    identity: `bench-worker-${process.pid}-${i}`,
    logger: quietLogger,
    handleSignals: false,
    shutdownGraceTime: 1000,
    ...(process.env.BENCH_CACHE === 'off' ? { maxCachedWorkflows: 0 } : {}),
  });
  running.push({ worker, done: worker.run() });
}
report('READY', { workers: count });

process.once('SIGTERM', () => {
  void (async () => {
    await Promise.all(running.map((r) => r.worker.shutdown()));
    await Promise.all(running.map((r) => r.done));
    process.exit(0);
  })();
});
