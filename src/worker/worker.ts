import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { type Connection, type ConnectionOptions, checkCompatible, connectHttp } from '../client/index.js';
import {
  type ActivityTask,
  type Duration,
  MAX_TASKS_PER_POLL,
  TidewayApiError,
  toMs,
  type WorkflowTask,
} from '../protocol/index.js';
import { installDeterminism } from '../workflow/determinism.js';
import { ActivityExecutor } from './activity-executor.js';
import type { EagerDispatch } from './eager-dispatch.js';
import { consoleLogger, type Logger } from './logger.js';
import { collectFunctions, type FunctionMap } from './registry.js';
import { Slots } from './slots.js';
import { WorkflowCache } from './workflow-cache.js';
import { WorkflowExecutor } from './workflow-executor.js';

export interface WorkerOptions extends ConnectionOptions {
  taskQueue: string;
  /** Workflow functions by name: an object or a module namespace (`import * as workflows`). */
  workflows?: object;
  /** Activity functions by name: an object or a module namespace. */
  activities?: object;
  /** Default TIDEWAY_NAMESPACE, else 'default'. */
  namespace?: string;
  /** An existing connection (e.g. a test environment's in-process one) instead of an address. */
  connection?: Connection;
  /** Shown in history and describe output; default pid@hostname. */
  identity?: string;
  /**
   * Workflow tasks run at once (default 200). A task is a short run of workflow code plus its completion's
   * round trip, so most of its time in a slot is spent waiting on the engine; more tasks in flight make
   * larger batches of completions, each sharing a transaction. With 2,000 workflows at once, 40 slots
   * ran about 25% fewer workflows per second than 200 (and 10, 15–20% fewer than 40).
   */
  maxConcurrentWorkflowTasks?: number;
  /** Activities run at once (default 100). */
  maxConcurrentActivityTasks?: number;
  /** Runs kept in the sticky cache (default 1000; 0 disables it). */
  maxCachedWorkflows?: number;
  /** How long shutdown waits for running activities before aborting them (default 10s). */
  shutdownGraceTime?: Duration;
  /** Shut down on SIGINT/SIGTERM while `run()` is running (default true). */
  handleSignals?: boolean;
  /**
   * Let completions hand this worker its next task directly: the activities its workflow tasks schedule,
   * and the workflow task its activity results create (default true). Saves a queue round trip per step.
   */
  eagerDispatch?: boolean;
  /**
   * When an activity of a run this worker holds in its cache finishes, deliver the result to the workflow
   * here and report the result together with the workflow's next decision: one request and one transaction
   * per step instead of two (default true, with eager dispatch and the cache on). The result is then
   * recorded once that decision is made, usually well under a millisecond later; a worker that dies in
   * between leaves the attempt to be retried, like one that dies before reporting. Off: every result is
   * recorded before the workflow code sees it.
   */
  runAhead?: boolean;
  /**
   * Report the timers this worker's workflows start (`sleep`, condition timeouts) when they fall due, from
   * this worker's own clock, and run the workflow on at once in the same request when the run is cached
   * (default true; timers up to 10 minutes). The engine's timer service fires such a timer only a grace
   * period (200 ms) after it is due, if the worker has not: after a crash, say. Off: the engine fires every
   * timer, and the worker gets its task by polling.
   */
  wakeTimers?: boolean;
  logger?: Logger;
}

/** How long a poll that asks for several tasks (in a burst) waits for one: see `pollLoop`. */
const BURST_POLL_WAIT_MS = 50;

type State = 'created' | 'running' | 'stopping' | 'stopped';

/**
 * Polls a task queue and runs the workflow and activity tasks it gets.
 * Any number of workers may poll the same queue, anywhere.
 */
export class Worker {
  private state: State = 'created';
  private readonly stopPolling = new AbortController();
  private readonly abortActivities = new AbortController();
  private readonly inFlight = new Set<Promise<unknown>>();
  private runPromise: Promise<void> | undefined;
  private readonly workflowExecutor: WorkflowExecutor;
  private readonly activityExecutor: ActivityExecutor;
  private readonly workflowSlots: Slots;
  private readonly activitySlots: Slots;
  /** Whether the poll loop holds a workflow slot for a long-poll it has out (see `waitForWorkflowSlot`). */
  private workflowLongPollOut = false;
  readonly identity: string;
  readonly namespace: string;

  private constructor(
    readonly connection: Connection,
    private readonly options: WorkerOptions,
    private readonly workflows: FunctionMap,
    private readonly activities: FunctionMap,
    private readonly logger: Logger,
  ) {
    // One listener per running activity and per poll waiting for a slot: hundreds at once is normal, not a leak.
    setMaxListeners(0, this.stopPolling.signal, this.abortActivities.signal);
    this.identity = options.identity ?? `${process.pid}@${hostname()}`;
    this.namespace = options.namespace ?? process.env.TIDEWAY_NAMESPACE ?? 'default';
    const api = connection.api;
    this.workflowSlots = new Slots(options.maxConcurrentWorkflowTasks ?? 200);
    this.activitySlots = new Slots(options.maxConcurrentActivityTasks ?? 100);
    const eager = (options.eagerDispatch ?? true) ? this.eagerDispatch() : undefined;
    this.workflowExecutor = new WorkflowExecutor(
      api,
      this.namespace,
      this.identity,
      workflows,
      new WorkflowCache(options.maxCachedWorkflows ?? 1000),
      eager,
      { wakeTimers: options.wakeTimers ?? true },
    );
    this.activityExecutor = new ActivityExecutor(api, this.namespace, this.identity, activities, logger, eager);
  }

  /** Eager dispatch backed by this worker's slots; nothing is offered once it stops running. */
  private eagerDispatch(): EagerDispatch {
    const queue = this.options.taskQueue;
    return {
      offerActivities: (taskQueue, commands) => {
        if (this.state !== 'running' || taskQueue !== queue || this.activities.size === 0) return undefined;
        const wanted = commands.filter(
          (c) =>
            c.type === 'ScheduleActivity' &&
            (c.taskQueue ?? taskQueue) === queue &&
            this.activities.has(c.activityType),
        ).length;
        const max = wanted > 0 ? this.activitySlots.tryAcquire(wanted) : 0;
        if (max === 0) return undefined;
        return {
          max,
          types: [...this.activities.keys()],
          release: (unused) => {
            for (let i = 0; i < unused; i++) this.activitySlots.release();
          },
        };
      },
      runActivities: (tasks) => {
        for (const task of tasks) this.runTask('activity', task, this.activitySlots);
      },
      offerWorkflowTask: (workflowType, taskQueue) => {
        if (this.state !== 'running' || taskQueue !== queue || !this.workflows.has(workflowType)) return undefined;
        if (this.workflowSlots.tryAcquire(1) === 0) return undefined;
        return { release: () => this.workflowSlots.release() };
      },
      waitForWorkflowSlot: async (workflowType, taskQueue, maxWaitMs) => {
        if (this.state !== 'running' || taskQueue !== queue || !this.workflows.has(workflowType)) return undefined;
        const release = () => this.workflowSlots.release();
        if (this.workflowSlots.tryAcquire(1) === 1) return { release };
        // The only slot taken is the one a long-poll holds: none comes free until a task arrives (on an
        // idle queue, not for the whole long-poll), so waiting would only hold this report back. (A burst's
        // polls, which hold more, come back within BURST_POLL_WAIT_MS.)
        if (this.workflowSlots.taken === (this.workflowLongPollOut ? 1 : 0)) return undefined;
        const signal = AbortSignal.any([this.stopPolling.signal, AbortSignal.timeout(maxWaitMs)]);
        // Ahead of the poll loop: a run this worker is in the middle of goes on before a new one is taken.
        await this.workflowSlots.acquire(signal, { first: true });
        if (signal.aborted) {
          release();
          return undefined;
        }
        return { release };
      },
      runWorkflowTask: (task) => this.runTask('workflow', task, this.workflowSlots),
      runAhead: async (activity, result) =>
        this.state === 'running' && (this.options.runAhead ?? true)
          ? this.workflowExecutor.runAhead(activity, result)
          : undefined,
    };
  }

  /** Registers the given workflows and activities and checks the server is compatible. */
  static async create(options: WorkerOptions): Promise<Worker> {
    if (!options.taskQueue) throw new TypeError('Worker.create needs a taskQueue');
    installDeterminism();
    const workflows = collectFunctions(options.workflows, 'workflows');
    const activities = collectFunctions(options.activities, 'activities');
    if (workflows.size === 0 && activities.size === 0) {
      throw new TypeError('Worker.create needs at least one workflow or activity function to run');
    }
    const connection = options.connection ?? (await connectHttp(options, 'worker'));
    if (options.connection) await checkCompatible(connection, 'worker');
    return new Worker(connection, options, workflows, activities, options.logger ?? consoleLogger());
  }

  /** Polls and runs tasks until `shutdown()` (or SIGINT/SIGTERM); resolves once in-flight tasks are done. */
  run(): Promise<void> {
    if (this.runPromise) return this.runPromise;
    this.state = 'running';
    const onSignal = () => {
      this.logger.info('signal received, shutting down (in-flight tasks finish first)');
      void this.shutdown();
    };
    const handleSignals = this.options.handleSignals ?? true;
    if (handleSignals) {
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
    }
    // One poll loop per kind. A second one would wait beside it on an idle queue, wake with it for the
    // same new task and claim nothing (a wasted transaction each time). One loop loses nothing: it hands
    // out what a poll brought and polls again at once, asking for twice as many while polls come back full.
    const loops: Promise<void>[] = [];
    if (this.workflows.size > 0) loops.push(this.pollLoop('workflow', this.workflowSlots));
    if (this.activities.size > 0) loops.push(this.pollLoop('activity', this.activitySlots));
    this.logger.info(`worker ${this.identity} polling task queue "${this.options.taskQueue}"`, {
      namespace: this.namespace,
      workflows: [...this.workflows.keys()],
      activities: [...this.activities.keys()],
    });
    this.runPromise = (async () => {
      await Promise.all(loops);
      await this.drain();
      if (handleSignals) {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      this.state = 'stopped';
    })();
    return this.runPromise;
  }

  /** Stops polling, lets in-flight tasks finish (activities up to the grace time), then resolves. */
  async shutdown(): Promise<void> {
    if (this.state === 'created') {
      this.state = 'stopped';
      return;
    }
    if (this.state === 'running') {
      this.state = 'stopping';
      this.stopPolling.abort();
    }
    await this.runPromise;
  }

  get isRunning(): boolean {
    return this.state === 'running';
  }

  /**
   * Waits for in-flight tasks: up to the grace time, then aborts activities'
   * cancellation signals and gives them one more second. An activity that
   * ignores its signal is abandoned; the server retries it after its timeout.
   */
  private async drain(): Promise<void> {
    const grace = toMs(this.options.shutdownGraceTime ?? '10s');
    const settled = async () => {
      while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    };
    // Timer reports on their way are waited for within the same grace (the engine fires what is left).
    const all = Promise.all([settled(), this.workflowExecutor.stopTimerWakes()]);
    if (await finishesWithin(all, grace)) return;
    this.abortActivities.abort();
    if (await finishesWithin(all, 1000)) return;
    this.logger.warn(`${this.inFlight.size} task(s) ignored cancellation and were abandoned at shutdown`);
  }

  /** Runs a task in a slot already taken for it (by a poll, or reserved for eager dispatch), tracked for shutdown. */
  private runTask(kind: 'workflow' | 'activity', task: WorkflowTask | ActivityTask, slots: Slots): void {
    const running =
      kind === 'workflow'
        ? this.workflowExecutor.execute(task as WorkflowTask)
        : this.activityExecutor.execute(task as ActivityTask, this.abortActivities.signal);
    const tracked = running
      .catch((error: unknown) => this.logger.error(`${kind} task crashed`, { error: String(error) }))
      .finally(() => {
        slots.release();
        this.inFlight.delete(tracked);
      });
    this.inFlight.add(tracked);
  }

  /**
   * Runs a task a poll carried beyond the slots it held (a start's first
   * task handed to an idle poll, up to `maxHandoffs`; or a server that
   * ignored `maxTasks`): as soon as a slot is free. It is leased
   * already, so it is never given back by waiting here.
   */
  private runWhenSlotFree(kind: 'workflow' | 'activity', task: WorkflowTask | ActivityTask, slots: Slots): void {
    // Ahead of polls and eager reservations: this task is leased already, and its lease is running.
    const waiting = slots
      .acquire(new AbortController().signal, { first: true })
      .then(() => this.runTask(kind, task, slots));
    this.inFlight.add(waiting);
    void waiting.finally(() => this.inFlight.delete(waiting));
  }

  private async pollLoop(kind: 'workflow' | 'activity', slots: Slots): Promise<void> {
    const api = this.connection.api;
    const request = {
      taskQueue: this.options.taskQueue,
      identity: this.identity,
      types: [...(kind === 'workflow' ? this.workflows : this.activities).keys()],
    };
    let failures = 0;
    // How many tasks to ask for next: every free slot once a poll came back full (a backlog, or a burst
    // of fired timers), back to one when one does not. Every task asked for has a slot held for it and
    // runs as soon as it arrives, so taking many delays none; an idle poll holds only one slot, so slots
    // stay free for the tasks completions hand back (eager dispatch). (Doubling from one instead took
    // six rounds to reach 40 slots, and the last timers of a burst of 100 waited for all of them.) A poll that
    // asks for more than one waits only briefly: if the queue stays empty, the burst is over, and a long
    // wait would keep every free slot from the tasks that completions and this worker's own timer
    // reports hand it (run ahead).
    let wanted = 1;
    while (!this.stopPolling.signal.aborted) {
      await slots.acquire(this.stopPolling.signal);
      if (this.stopPolling.signal.aborted) {
        slots.release();
        return;
      }
      const maxTasks = 1 + slots.tryAcquire(Math.min(wanted, MAX_TASKS_PER_POLL) - 1);
      // An idle workflow poll holds one slot but may be handed the first tasks of a burst of starts,
      // up to the slots free now (see `maxHandoffs`).
      const maxHandoffs = kind === 'workflow' ? Math.min(maxTasks + slots.available, MAX_TASKS_PER_POLL) : maxTasks;
      const poll = {
        ...request,
        maxTasks,
        ...(maxHandoffs > maxTasks ? { maxHandoffs } : {}),
        ...(maxTasks > 1 ? { waitMs: BURST_POLL_WAIT_MS } : {}),
      };
      if (kind === 'workflow') this.workflowLongPollOut = maxTasks === 1;
      try {
        const polled =
          kind === 'workflow'
            ? await api.pollWorkflowTask(this.namespace, poll, this.stopPolling.signal)
            : await api.pollActivityTask(this.namespace, poll, this.stopPolling.signal);
        failures = 0;
        if (kind === 'workflow') this.workflowLongPollOut = false;
        const tasks = polled.task ? [polled.task, ...(polled.moreTasks ?? [])] : [];
        for (let i = tasks.length; i < maxTasks; i++) slots.release();
        tasks.forEach((task, i) => {
          if (i < maxTasks) this.runTask(kind, task, slots);
          else this.runWhenSlotFree(kind, task, slots);
        });
        wanted = tasks.length >= maxTasks ? MAX_TASKS_PER_POLL : 1;
      } catch (error) {
        if (kind === 'workflow') this.workflowLongPollOut = false;
        for (let i = 0; i < maxTasks; i++) slots.release();
        wanted = 1;
        if (this.stopPolling.signal.aborted) return;
        failures++;
        const delay = Math.min(10_000, 250 * 2 ** Math.min(failures, 6));
        const message = error instanceof TidewayApiError ? error.message : String(error);
        if (failures === 1 || failures % 10 === 0)
          this.logger.warn(`${kind} poll failed; retrying`, { error: message });
        await abortableDelay(delay, this.stopPolling.signal);
      }
    }
  }
}

async function finishesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const done = await Promise.race([promise.then(() => true), timeout]);
  clearTimeout(timer);
  return done;
}

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
