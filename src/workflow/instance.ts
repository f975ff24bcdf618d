import { runInSlots } from '../protocol/context-slots.js';
import {
  ActivityFailure,
  type Command,
  type CommandOf,
  errorToFailure,
  failureToError,
  fromPayload,
  fromPayloads,
  type HistoryEvent,
  isCancellation,
  type ReportedTaskEvent,
  toPayload,
} from '../protocol/index.js';
import { CancellationScope } from './cancellation-scope.js';
import { ChildWorkflows } from './child-workflows.js';
import { CommandMatcher, isCommandEvent } from './command-matcher.js';
import { workflowStorage } from './context.js';
import { ContinueAsNewRequest } from './continue-as-new.js';
import { realDateNow, realSetImmediate } from './determinism.js';
import { DeterminismViolationError } from './errors.js';
import { HandlerRegistry } from './handlers.js';
import { Markers } from './markers.js';
import { seededRandom } from './prng.js';
import { type UpdateRequest, UpdateRunner } from './update-runner.js';

/** What workflow code can learn about the run it is in. */
export interface WorkflowInfo {
  namespace: string;
  workflowId: string;
  runId: string;
  workflowType: string;
  taskQueue: string;
  /** When the run started (ms since epoch). */
  startTime: number;
  /** True while the code is re-running past events rather than making new decisions. */
  isReplaying: boolean;
  /** 1 for the first run; 2 and up for runs that retry a failed one (workflow retry policy). */
  attempt: number;
}

export type WorkflowFunction = (...args: any[]) => Promise<unknown>;

interface Pending<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
  /** Stops listening for the scope's cancellation once settled. */
  release?: () => void;
}

/**
 * One run of a workflow function, driven by its history. Events are
 * consumed in order; events the workflow must see are delivered in the
 * batches the original worker saw them (each workflow task's
 * `seenUpToEventId`), one at a time with the microtask queue drained after
 * each, so replay takes exactly the path the first execution took. Commands
 * the code emits are matched against the recorded command events; any
 * difference is a `NonDeterminismError`.
 */
export class WorkflowInstance {
  /** Workflow time: the time of the workflow task being (re)played. */
  now: number;
  /** Workflow randomness: seeded by the run id (the original run's, for a reset run). */
  random: () => number;
  /** The last history event consumed. */
  lastEventId = 0;
  /** Set when workflow code did something forbidden; fails the task even if the code caught it. */
  violation: DeterminismViolationError | undefined;
  completed = false;
  replaying = true;
  /** Milestones emitted by this activation (never on replay); sent with the task's completion. */
  taskEvents: ReportedTaskEvent[] = [];
  /**
   * The real clock when this activation's code last started a timer (never on replay): the timer counts
   * from here, not from when the completion left (in a burst, other runs' work comes in between).
   */
  timerStartedAt: number | undefined;

  private readonly undelivered: HistoryEvent[] = [];
  private readonly commands = new CommandMatcher();
  readonly childWorkflows = new ChildWorkflows(
    (command) => this.emit(command),
    (promise) => this.track(promise),
  );
  /** sideEffect / patched / deprecatePatch, answered from recorded markers on replay. */
  readonly markers = new Markers(
    (command) => this.emit(command),
    () => this.replaying,
  );
  private activitySeq = 0;
  private timerSeq = 0;
  private readonly activities = new Map<string, Pending<unknown>>();
  private readonly timers = new Map<string, Pending<void>>();
  readonly handlers = new HandlerRegistry((fn) => this.runInWorkflow(fn));
  private readonly updates = new UpdateRunner(
    this.handlers,
    (command) => this.emit(command),
    (fn) => this.callInWorkflow(fn),
    (fn) => runInSlots({ workflow: this, scope: this.rootScope }, fn),
  );
  /** Cancelled when someone cancels the workflow; handlers and the main function run in it. */
  readonly rootScope = new CancellationScope({ parent: null });
  private readonly conditions = new Set<{ predicate: () => boolean; resolve: (value: boolean) => void }>();

  constructor(
    readonly info: Omit<WorkflowInfo, 'isReplaying' | 'startTime' | 'attempt'> & {
      startTime?: number;
      attempt?: number;
    },
    private readonly fn: WorkflowFunction,
  ) {
    this.now = info.startTime ?? 0;
    this.random = seededRandom(info.runId);
  }

  /** Consumes history events in order (a contiguous range following `lastEventId`). */
  async consume(events: readonly HistoryEvent[]): Promise<void> {
    for (const [index, event] of events.entries()) {
      if (event.eventId !== this.lastEventId + 1) {
        throw new Error(`history gap: expected event ${this.lastEventId + 1}, got ${event.eventId}`);
      }
      this.lastEventId = event.eventId;
      if (isCommandEvent(event)) {
        this.commands.match(event);
        continue;
      }
      this.commands.finish(`event ${event.eventId} (${event.type})`);
      if (event.type === 'WorkflowExecutionStarted') {
        this.info.startTime ??= event.timestamp;
        this.info.attempt = event.attributes.attempt ?? 1;
        // A reset run replays events decided in its base run: draw the numbers they were drawn with.
        const seed = event.attributes.originalExecutionRunId;
        if (seed) this.random = seededRandom(seed);
      }
      if (event.type === 'WorkflowTaskCompleted') {
        // Once this instance has run a task live (it came from the cache), every task it consumes is one it
        // ran itself: its updates were accepted and its events delivered then, and must not run twice.
        if (this.replaying) {
          // Replays the activation that task ran, with the events it had seen, at its time.
          this.now = event.attributes.taskTime;
          this.markers.replayingTask(events, index);
          await this.deliver((e) => e.eventId <= event.attributes.seenUpToEventId);
          this.updates.replayAccepted(events, index);
          await this.settle();
          this.markers.doneReplayingTask();
        }
        this.commands.startTaskCommands();
        continue;
      }
      this.undelivered.push(event);
    }
  }

  /**
   * Runs the current workflow task: delivers every event not yet seen at
   * `taskTime` and returns the commands the code emitted in response.
   */
  async activate(taskTime: number, updates: readonly UpdateRequest[] = []): Promise<Command[]> {
    this.commands.finish('the end of the history');
    this.replaying = false;
    this.now = taskTime;
    const before = this.commands.pendingCount;
    await this.deliver(() => true);
    if (updates.length > 0) {
      this.updates.receive(updates);
      await this.settle();
    }
    if (this.violation) throw this.violation;
    return [...this.commands.since(before), ...this.updates.takeRejections()];
  }

  /** Lets code started outside an event (an update handler) run as far as it can. */
  private async settle(): Promise<void> {
    await drainMicrotasks();
    await this.settleConditions();
  }

  /** For replay checks: everything the code emitted must be recorded by the end of the history. */
  checkReplayComplete(): void {
    this.commands.finish('the end of the history');
  }

  private async deliver(include: (event: HistoryEvent) => boolean): Promise<void> {
    while (this.undelivered.length > 0 && include(this.undelivered[0]!)) {
      const event = this.undelivered.shift()!;
      this.apply(event);
      await drainMicrotasks();
      await this.settleConditions();
    }
  }

  /** Applies one event the workflow must see. */
  private apply(event: HistoryEvent): void {
    switch (event.type) {
      case 'WorkflowExecutionStarted':
        this.start(fromPayloads(event.attributes.input));
        return;
      case 'ActivityTaskCompleted':
        this.settleActivity(event.attributes.scheduledEventId, (p) => p.resolve(fromPayload(event.attributes.result)));
        return;
      case 'ActivityTaskFailed':
      case 'ActivityTaskTimedOut':
        this.settleActivity(event.attributes.scheduledEventId, (p) =>
          p.reject(failureToError(event.attributes.failure)),
        );
        return;
      case 'WorkflowExecutionSignaled':
        this.handlers.dispatchSignal(event.attributes.signalName, fromPayloads(event.attributes.input));
        return;
      case 'TimerFired': {
        const timerId = event.attributes.timerId;
        const pending = this.timers.get(timerId);
        this.timers.delete(timerId);
        pending?.release?.();
        pending?.resolve();
        return;
      }
      case 'ChildWorkflowExecutionStarted':
      case 'StartChildWorkflowExecutionFailed':
      case 'ChildWorkflowExecutionCompleted':
      case 'ChildWorkflowExecutionFailed':
        this.childWorkflows.onEvent(event);
        return;
      case 'WorkflowExecutionCancelRequested':
        this.rootScope.cancel(event.attributes.reason);
        return;
      default:
        return;
    }
  }

  private start(args: unknown[]): void {
    const promise = this.callInWorkflow(() => this.fn(...args));
    promise.then(
      (result) => this.complete({ type: 'CompleteWorkflow', result: toPayload(result) }),
      (error: unknown) => this.failFromCode(error),
    );
  }

  private complete(command: Command): void {
    if (this.completed) return;
    this.completed = true;
    this.commands.add(command);
  }

  /** Whether the workflow still awaits the timer (not fired, not cancelled). */
  hasPendingTimer(timerId: string): boolean {
    return this.timers.has(timerId);
  }

  /** The event that scheduled an activity the workflow still awaits, once history has recorded it. */
  pendingActivityEventId(activityId: string): number | undefined {
    return this.activities.has(activityId) ? this.commands.eventIdsByActivityId.get(activityId) : undefined;
  }

  private settleActivity(scheduledEventId: number, settle: (pending: Pending<unknown>) => void): void {
    const activityId = this.commands.activityIdsByEventId.get(scheduledEventId);
    const pending = activityId === undefined ? undefined : this.activities.get(activityId);
    if (!activityId || !pending) return;
    this.activities.delete(activityId);
    pending.release?.();
    settle(pending);
  }

  /** Runs workflow code (a handler, a predicate) in this workflow's context; its failure fails the run. */
  private runInWorkflow(fn: () => unknown): void {
    this.callInWorkflow(fn).catch((error: unknown) => this.failFromCode(error));
  }

  /** Calls workflow code in this workflow's context and root scope; a throw becomes a rejection. */
  private callInWorkflow(fn: () => unknown): Promise<unknown> {
    return runInSlots({ workflow: this, scope: this.rootScope }, () => {
      try {
        return Promise.resolve(fn());
      } catch (error) {
        return Promise.reject(error);
      }
    });
  }

  private failFromCode(error: unknown): void {
    if (error instanceof DeterminismViolationError) {
      this.violation ??= error;
      return;
    }
    if (error instanceof ContinueAsNewRequest) {
      this.complete({ type: 'ContinueAsNew', input: error.input });
      return;
    }
    if (this.rootScope.cancelled && isCancellation(error)) {
      // The workflow let the cancellation through: it ends as cancelled, not failed.
      this.complete({ type: 'CancelWorkflow', reason: this.rootScope.failure?.message ?? 'cancelled' });
      return;
    }
    this.complete({ type: 'FailWorkflow', failure: errorToFailure(error) });
  }

  /**
   * Resolves every `condition` whose predicate became true, repeatedly: a
   * resolved condition may run code that makes another one true. Called
   * after each event, so replay resolves them at the same points.
   */
  private async settleConditions(): Promise<void> {
    for (let progressed = true; progressed && this.conditions.size > 0; ) {
      progressed = false;
      for (const condition of [...this.conditions]) {
        let satisfied = false;
        try {
          satisfied = workflowStorage.run(this, condition.predicate);
        } catch (error) {
          this.conditions.delete(condition);
          this.failFromCode(error);
          continue;
        }
        if (!satisfied) continue;
        this.conditions.delete(condition);
        condition.resolve(true);
        progressed = true;
      }
      if (progressed) await drainMicrotasks();
    }
  }

  // ---- called by workflow APIs, inside the workflow's async context ----

  /** Answers a query from the current state, in the workflow's context. */
  answerQuery(name: string, args: unknown[]): unknown {
    return this.handlers.answerQuery(name, args, (fn) => workflowStorage.run(this, fn));
  }

  /**
   * Resolves true once `predicate` holds after some state change, or false
   * when the optional timeout (a durable timer) fires first.
   */
  waitForCondition(predicate: () => boolean, timeoutMs?: number): Promise<boolean> {
    if (predicate()) return Promise.resolve(true);
    const scope = CancellationScope.current();
    if (scope.failure) return Promise.reject(scope.failure);
    return new Promise<boolean>((resolve, reject) => {
      let timerId: string | undefined;
      const entry = {
        predicate,
        resolve: (value: boolean) => {
          release();
          // Satisfied before the timeout: the timer is no longer needed.
          if (timerId !== undefined) this.cancelTimer(timerId);
          resolve(value);
        },
      };
      const release = scope.onCancel((failure) => {
        if (this.conditions.delete(entry)) reject(failure);
      });
      this.conditions.add(entry);
      if (timeoutMs !== undefined) {
        const timer = this.newTimer(timeoutMs);
        timerId = timer.timerId;
        timer.fired.then(
          () => {
            if (!this.conditions.delete(entry)) return;
            release();
            resolve(false);
          },
          () => {},
        );
      }
    });
  }

  scheduleActivity(command: Omit<CommandOf<'ScheduleActivity'>, 'type' | 'activityId'>): Promise<unknown> {
    const scope = CancellationScope.current();
    if (scope.failure) return this.track(Promise.reject(scope.failure));
    const activityId = String(++this.activitySeq);
    this.emit({ type: 'ScheduleActivity', activityId, ...command });
    return this.track(
      new Promise((resolve, reject) => {
        const release = scope.onCancel((failure) => {
          if (!this.activities.delete(activityId)) return;
          // Rejects now; a started activity learns of it at its next heartbeat.
          this.emit({ type: 'RequestCancelActivity', activityId });
          reject(
            new ActivityFailure(
              `activity ${command.activityType} cancelled`,
              command.activityType,
              activityId,
              0,
              'cancel-requested',
              failure,
            ),
          );
        });
        this.activities.set(activityId, { resolve, reject, release });
      }),
    );
  }

  startTimer(durationMs: number): Promise<void> {
    return this.newTimer(durationMs).fired;
  }

  /** Starts a durable timer in the current scope; cancelling the scope cancels it. */
  newTimer(durationMs: number): { timerId: string; fired: Promise<void> } {
    const timerId = String(++this.timerSeq);
    const scope = CancellationScope.current();
    if (scope.failure) return { timerId, fired: this.track(Promise.reject(scope.failure)) };
    this.emit({ type: 'StartTimer', timerId, durationMs });
    if (!this.replaying) this.timerStartedAt = realDateNow();
    const fired = this.track(
      new Promise<void>((resolve, reject) => {
        const release = scope.onCancel((failure) => {
          if (this.cancelTimer(timerId)) reject(failure);
        });
        this.timers.set(timerId, { resolve, reject, release });
      }),
    );
    return { timerId, fired };
  }

  /** Cancels a pending timer (recording CancelTimer); false if it already fired or was cancelled. */
  cancelTimer(timerId: string): boolean {
    const pending = this.timers.get(timerId);
    if (!pending) return false;
    this.timers.delete(timerId);
    pending.release?.();
    this.emit({ type: 'CancelTimer', timerId });
    return true;
  }

  private emit(command: Command): void {
    if (this.completed) return;
    this.commands.add(command);
  }

  /** A rejection nobody awaited must not crash the worker process; the caller still sees it when it awaits. */
  private track<T>(promise: Promise<T>): Promise<T> {
    promise.catch(() => {});
    return promise;
  }
}

function drainMicrotasks(): Promise<void> {
  // Workflow code only awaits promises the runtime settles, so once a
  // macrotask runs, every continuation the last event triggered has run.
  return new Promise((resolve) => realSetImmediate(resolve));
}
