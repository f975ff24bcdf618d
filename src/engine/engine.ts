import { setMaxListeners } from 'node:events';
import {
  type ClusterInfo,
  CONTROL_PLANE_VERSION,
  type Duration,
  SERVER_VERSION,
  type TidewayApi,
  TidewayApiError,
  toMs,
  WORKER_PROTOCOL_VERSION,
} from '../protocol/index.js';
import { type Db, dropTimerWakeGrace, openDb, type StoreOptions } from '../store/index.js';
import { pollActivityTasks } from './activity-dispatch.js';
import { heartbeatActivityTask } from './activity-heartbeats.js';
import { completeActivityTask, failActivityTask } from './activity-tasks.js';
import { bulkWorkflowOperation } from './bulk-operations.js';
import { type Clock, systemClock } from './clock.js';
import { createContext, type EngineContext } from './context.js';
import { fireTimer } from './fire-timer.js';
import { PollerRegistry } from './long-poll.js';
import { Notifier } from './notifier.js';
import { queryWorkflow, respondQueryTask } from './queries.js';
import { releaseTask } from './release-task.js';
import { resetWorkflow } from './reset.js';
import { cancelWorkflow, signalWithStart, signalWorkflow, terminateWorkflow } from './signals.js';
import { startWorkflows } from './start-batches.js';
import { startWorkflow } from './start-workflow.js';
import { TaskEventRetention } from './task-event-retention.js';
import { DEFAULT_OUTPUT_BUDGET, listTaskEvents, type OutputBudget, recordActivityEvents } from './task-events.js';
import { TimerService } from './timer-service.js';
import { updateWorkflow } from './updates.js';
import { describeWorkflow, getWorkflowHistory, getWorkflowResult, listWorkflows } from './visibility.js';
import { submitWorkerReports } from './worker-reports.js';
import { pollWorkflowTasks } from './workflow-dispatch.js';
import { completeWorkflowTask, failWorkflowTask } from './workflow-tasks.js';

export const DEFAULT_MAX_PAYLOAD_BYTES = 2 * 1024 * 1024;

export interface EngineOptions extends StoreOptions {
  clock?: Clock;
  /** Largest single payload (workflow input, activity result, command) accepted, in bytes. Default 2 MB. */
  maxPayloadBytes?: number;
  /** Run the timer service in this process (default true). */
  timers?: boolean;
  /** How long task events (progress, output, milestones) are kept (default 7 days). */
  taskEventRetention?: Duration;
  /** Output an activity (all its attempts together) may report per window before stdout/stderr are dropped (default 1 MiB per minute). */
  outputBudget?: OutputBudget;
  onError?: (error: unknown) => void;
}

/**
 * The engine: every operation of the Tideway API, applied to the store in
 * one transaction per state transition. The HTTP server and the in-process
 * transport both call this.
 */
export class Engine implements TidewayApi {
  private readonly pollers: PollerRegistry;
  private readonly timerService: TimerService | undefined;
  private readonly closingController: AbortController;
  private readonly inFlight = new Set<Promise<unknown>>();
  readonly taskEventRetention: TaskEventRetention;
  private readonly outputBudget: OutputBudget;

  private constructor(
    readonly ctx: EngineContext,
    closing: AbortController,
    options: Omit<EngineOptions, keyof StoreOptions>,
    onError: (error: unknown) => void,
  ) {
    this.closingController = closing;
    this.pollers = new PollerRegistry(ctx);
    this.timerService = (options.timers ?? true) ? new TimerService(ctx, onError) : undefined;
    this.taskEventRetention = new TaskEventRetention(ctx, toMs(options.taskEventRetention ?? '7d'), onError);
    this.outputBudget = options.outputBudget ?? DEFAULT_OUTPUT_BUDGET;
  }

  /** Opens (and migrates) the store, starts listening for wake-ups and the timer service. */
  static async open(options: EngineOptions = {}): Promise<Engine> {
    const db = await openDb(options);
    return Engine.fromDb(db, options);
  }

  static async fromDb(db: Db, options: Omit<EngineOptions, keyof StoreOptions> = {}): Promise<Engine> {
    const notifier = new Notifier();
    await notifier.start(db);
    const closing = new AbortController();
    // Every long-poll and result wait listens for the engine closing: many at once is normal, not a leak.
    setMaxListeners(0, closing.signal);
    const ctx = createContext({
      closing: closing.signal,
      db,
      clock: options.clock ?? systemClock,
      notifier,
      maxPayloadBytes: options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
    });
    const onError = options.onError ?? ((error) => console.error('[tideway] background task error:', error));
    const engine = new Engine(ctx, closing, options, onError);
    engine.timerService?.start();
    engine.taskEventRetention.start();
    return engine;
  }

  get db(): Db {
    return this.ctx.db;
  }

  /** After a test clock skipped forward: fire what became due, and let long-polls see tasks that became visible. */
  clockChanged(): void {
    this.ctx.notifier.wakeAll();
    // Workers' own clocks for the timers they promised to report know nothing of skipped time:
    // such timers are left to the timer service at their due time, with no grace.
    void dropTimerWakeGrace(this.ctx.db)
      .then(() => this.ctx.notifier.wakeAll())
      .catch(() => {});
  }

  /** Stops the timer service, ends long-polls, lets running operations finish, closes the store. */
  async close(): Promise<void> {
    if (this.closingController.signal.aborted) return;
    this.closingController.abort();
    await this.timerService?.stop();
    await this.taskEventRetention.stop();
    await Promise.allSettled([...this.inFlight]);
    await this.ctx.notifier.stop();
    await this.ctx.db.close();
  }

  /** Runs an operation, refusing new ones once closing, and tracking it so close() can wait for it. */
  private track<T>(operation: () => Promise<T>): Promise<T> {
    if (this.closingController.signal.aborted) {
      return Promise.reject(
        new TidewayApiError('Unavailable', 'the Tideway engine is shutting down; retry against another server'),
      );
    }
    const promise = operation();
    this.inFlight.add(promise);
    const forget = () => this.inFlight.delete(promise);
    promise.then(forget, forget);
    return promise;
  }

  /** Returns a claimed task to its queue when the poll that claimed it could not deliver it. */
  releaseTask(namespace: string, taskToken: string): Promise<void> {
    return this.track(() => releaseTask(this.ctx, namespace, taskToken));
  }

  async clusterInfo(): Promise<ClusterInfo> {
    return {
      serverVersion: SERVER_VERSION,
      controlPlaneVersion: CONTROL_PLANE_VERSION,
      workerProtocolVersion: WORKER_PROTOCOL_VERSION,
      store: this.ctx.db.kind,
      maxPayloadBytes: this.ctx.maxPayloadBytes,
    };
  }

  startWorkflow: TidewayApi['startWorkflow'] = (ns, request, signal) =>
    this.track(() => startWorkflow(this.ctx, ns, request, signal));
  startWorkflows: TidewayApi['startWorkflows'] = (ns, request, onOutcome, signal) =>
    this.track(() =>
      startWorkflows(
        this,
        ns,
        request,
        onOutcome,
        (error) => console.error('[tideway] a workflow start failed', error),
        signal,
      ),
    );
  describeWorkflow: TidewayApi['describeWorkflow'] = (ns, ref) => this.track(() => describeWorkflow(this.ctx, ns, ref));
  getWorkflowResult: TidewayApi['getWorkflowResult'] = (ns, ref, signal) =>
    this.track(() => getWorkflowResult(this.ctx, ns, ref, signal));
  listWorkflows: TidewayApi['listWorkflows'] = (ns, query) => this.track(() => listWorkflows(this.ctx, ns, query));
  getWorkflowHistory: TidewayApi['getWorkflowHistory'] = (ns, query) =>
    this.track(() => getWorkflowHistory(this.ctx, ns, query));
  signalWorkflow: TidewayApi['signalWorkflow'] = (ns, request) =>
    this.track(() => signalWorkflow(this.ctx, ns, request));
  signalWithStart: TidewayApi['signalWithStart'] = (ns, request) =>
    this.track(() => signalWithStart(this.ctx, ns, request));
  cancelWorkflow: TidewayApi['cancelWorkflow'] = (ns, request) =>
    this.track(() => cancelWorkflow(this.ctx, ns, request));
  terminateWorkflow: TidewayApi['terminateWorkflow'] = (ns, request) =>
    this.track(() => terminateWorkflow(this.ctx, ns, request));
  resetWorkflow: TidewayApi['resetWorkflow'] = (ns, request) => this.track(() => resetWorkflow(this.ctx, ns, request));
  bulkWorkflowOperation: TidewayApi['bulkWorkflowOperation'] = (ns, request) =>
    this.track(() => bulkWorkflowOperation(this.ctx, ns, request));
  queryWorkflow: TidewayApi['queryWorkflow'] = (ns, request) => this.track(() => queryWorkflow(this.ctx, ns, request));
  updateWorkflow: TidewayApi['updateWorkflow'] = (ns, request) =>
    this.track(() => updateWorkflow(this.ctx, ns, request));
  respondQueryTask: TidewayApi['respondQueryTask'] = (ns, request) =>
    this.track(() => respondQueryTask(this.ctx, ns, request));
  pollWorkflowTask: TidewayApi['pollWorkflowTask'] = (ns, request, signal) =>
    this.track(async () => pollResponse(await pollWorkflowTasks(this.ctx, this.pollers, ns, request, signal)));
  completeWorkflowTask: TidewayApi['completeWorkflowTask'] = (ns, request) =>
    this.track(() => completeWorkflowTask(this.ctx, ns, request));
  failWorkflowTask: TidewayApi['failWorkflowTask'] = (ns, request) =>
    this.track(() => failWorkflowTask(this.ctx, ns, request));
  pollActivityTask: TidewayApi['pollActivityTask'] = (ns, request, signal) =>
    this.track(async () => pollResponse(await pollActivityTasks(this.ctx, this.pollers, ns, request, signal)));
  completeActivityTask: TidewayApi['completeActivityTask'] = (ns, request) =>
    this.track(() => completeActivityTask(this.ctx, ns, request));
  failActivityTask: TidewayApi['failActivityTask'] = (ns, request) =>
    this.track(() => failActivityTask(this.ctx, ns, request));
  heartbeatActivityTask: TidewayApi['heartbeatActivityTask'] = (ns, request) =>
    this.track(() => heartbeatActivityTask(this.ctx, ns, request));
  fireTimer: TidewayApi['fireTimer'] = (ns, request) => this.track(() => fireTimer(this.ctx, ns, request));
  submitWorkerReports: TidewayApi['submitWorkerReports'] = (ns, request) =>
    this.track(() =>
      submitWorkerReports(this, ns, request, (error) => console.error('[tideway] a worker report failed', error)),
    );
  recordActivityEvents: TidewayApi['recordActivityEvents'] = (ns, request) =>
    this.track(() => recordActivityEvents(this.ctx, this.outputBudget, ns, request));
  listTaskEvents: TidewayApi['listTaskEvents'] = (ns, request, signal) =>
    this.track(() => listTaskEvents(this.ctx, ns, request, signal));
}

/** A poll's tasks as the protocol carries them: the first, then the rest (present only when there are more). */
function pollResponse<T>(tasks: T[]): { task: T | null; moreTasks?: T[] } {
  const [task, ...moreTasks] = tasks;
  return moreTasks.length > 0 ? { task: task ?? null, moreTasks } : { task: task ?? null };
}
