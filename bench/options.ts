// What one invocation of the suite runs: which workloads, on which systems,
// at which sizes. `parseArgs` reads the command line of `npm run bench`.
import { parseArgs } from 'node:util';

export const WORKLOADS = [
  'latency',
  'throughput',
  'tenSteps',
  'timers',
  'longHistory',
  'backlog',
  'dbCost',
  'idle',
  'floor',
] as const;
export type WorkloadName = (typeof WORKLOADS)[number];

export const MODES = ['inprocess-pg', 'server-pg', 'inprocess-pglite', 'dbos'] as const;
export type ModeName = (typeof MODES)[number];

export interface Sizes {
  /** Repetitions of the timed workloads (latency, throughput, ten steps, timers); medians are reported. */
  repetitions: number;
  /** Unmeasured runs before each timed workload. */
  warmup: number;
  /**
   * And at least this long of them (ms): each system warmed for the same time
   * before its first round. A server and a worker spawned for the session
   * start with cold code (V8 compiles hot paths after many calls), where the
   * in-process systems share the benchmark's warm process; without it the
   * first rounds of server mode measured warm-up, not steady state.
   */
  warmupMs: number;
  latencyRuns: number;
  throughputWorkflows: number;
  tenStepRuns: number;
  timerWorkflows: number;
  timerSleepMs: number;
  longHistorySteps: number;
  backlogWorkflows: number;
  /** Workflows in the small and the large database-cost session (the cost is their difference). */
  costWorkflows: [small: number, large: number];
  /**
   * Seconds idle in the short and the long idle session. Their difference must span whole
   * long-poll periods (Tideway's polls wait 30 s before asking again), or re-polls go unseen.
   */
  idleSeconds: [short: number, long: number];
  idleWorkers: number;
  floorInserts: number;
}

export const FULL_SIZES: Sizes = {
  repetitions: 3,
  warmup: 20,
  warmupMs: 5000,
  latencyRuns: 200,
  throughputWorkflows: 2000,
  tenStepRuns: 200,
  timerWorkflows: 100,
  timerSleepMs: 1000,
  longHistorySteps: 1000,
  backlogWorkflows: 20_000,
  costWorkflows: [20, 100],
  idleSeconds: [5, 65],
  idleWorkers: 10,
  floorInserts: 2000,
};

export const QUICK_SIZES: Sizes = {
  repetitions: 1,
  warmup: 3,
  warmupMs: 500,
  latencyRuns: 20,
  throughputWorkflows: 100,
  tenStepRuns: 10,
  timerWorkflows: 20,
  timerSleepMs: 1000,
  longHistorySteps: 60,
  backlogWorkflows: 300,
  costWorkflows: [5, 15],
  idleSeconds: [2, 32],
  idleWorkers: 10,
  floorInserts: 200,
};

/** A few workflows per workload: for the smoke test, which checks the suite runs, not how fast. */
export const SMOKE_SIZES: Sizes = {
  repetitions: 1,
  warmup: 1,
  warmupMs: 0,
  latencyRuns: 3,
  throughputWorkflows: 5,
  tenStepRuns: 2,
  timerWorkflows: 3,
  timerSleepMs: 200,
  longHistorySteps: 12,
  backlogWorkflows: 10,
  costWorkflows: [1, 3],
  idleSeconds: [0.2, 0.7],
  idleWorkers: 2,
  floorInserts: 10,
};

export interface SuiteOptions {
  sizes: Sizes;
  workloads: WorkloadName[];
  modes: ModeName[];
  /** Where the JSON goes; undefined: not written. */
  out?: string | undefined;
  /** Progress lines (stderr by default). */
  log?: (line: string) => void;
}

const HELP = `npm run bench -- [options]

  --quick              small sizes (a few minutes), one repetition
  --only <list>        workloads: ${WORKLOADS.join(',')}
  --modes <list>       systems: ${MODES.join(',')} (default all)
  --no-dbos            leave DBOS out (same as --modes without dbos)
  --repetitions <n>    repetitions of the timed workloads (default 3, quick 1)
  --set <key=value>    override a size, e.g. --set backlogWorkflows=5000 (repeatable)
  --out <file>         JSON output (default bench/results/latest.json)
  --help`;

export function parseCommandLine(argv: string[]): SuiteOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean' },
      only: { type: 'string' },
      modes: { type: 'string' },
      'no-dbos': { type: 'boolean' },
      repetitions: { type: 'string' },
      set: { type: 'string', multiple: true },
      out: { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const sizes: Sizes = { ...(values.quick ? QUICK_SIZES : FULL_SIZES) };
  if (values.repetitions) sizes.repetitions = positive('--repetitions', values.repetitions);
  for (const assignment of values.set ?? []) applySize(sizes, assignment);
  let modes: ModeName[] = values.modes ? pick('--modes', values.modes, MODES) : [...MODES];
  if (values['no-dbos']) modes = modes.filter((m) => m !== 'dbos');
  const workloads = values.only ? pick('--only', values.only, WORKLOADS) : [...WORKLOADS];
  return { sizes, workloads, modes, out: values.out ?? 'bench/results/latest.json' };
}

export const USAGE = HELP;

function pick<T extends string>(flag: string, list: string, allowed: readonly T[]): T[] {
  const names = list.split(',').map((s) => s.trim());
  for (const name of names) {
    if (!allowed.includes(name as T)) throw new Error(`${flag}: unknown "${name}"; choose from ${allowed.join(', ')}`);
  }
  return names as T[];
}

function positive(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} needs a positive number, got "${text}"`);
  return n;
}

function applySize(sizes: Sizes, assignment: string): void {
  const [key, value] = assignment.split('=');
  if (!key || value === undefined || !(key in sizes)) {
    throw new Error(`--set ${assignment}: expected <size>=<value> with size one of ${Object.keys(sizes).join(', ')}`);
  }
  const current = sizes[key as keyof Sizes];
  if (Array.isArray(current)) {
    const parts = value.split(',').map((v) => positive(`--set ${key}`, v));
    if (parts.length !== 2) throw new Error(`--set ${key} needs two numbers, e.g. ${key}=${current.join(',')}`);
    (sizes as unknown as Record<string, unknown>)[key] = parts;
  } else {
    (sizes as unknown as Record<string, unknown>)[key] = positive(`--set ${key}`, value);
  }
}
