import {
  type Command,
  type CommandOf,
  errorToFailure,
  failureToError,
  fromPayload,
  fromPayloads,
  type HistoryEvent,
  type HistoryEventOf,
  toPayload,
} from '../protocol/index.js';
import { workflowStorage } from './context.js';
import { ContinueAsNewRequest } from './continue-as-new.js';
import { realSetImmediate } from './determinism.js';
import { DeterminismViolationError, NonDeterminismError } from './errors.js';
import { HandlerRegistry } from './handlers.js';
import { seededRandom } from './prng.js';

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
}

export type WorkflowFunction = (...args: any[]) => Promise<unknown>;

interface Pending<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** Events that are the record of a command; replay matches them against what the code emits. */
const COMMAND_EVENT_TYPES = {
  ActivityTaskScheduled: 'ScheduleActivity',
  TimerStarted: 'StartTimer',
  TimerCanceled: 'CancelTimer',
  MarkerRecorded: 'RecordMarker',
  WorkflowExecutionCompleted: 'CompleteWorkflow',
  WorkflowExecutionFailed: 'FailWorkflow',
  WorkflowExecutionContinuedAsNew: 'ContinueAsNew',
} as const satisfies Partial<Record<HistoryEvent['type'], Command['type']>>;

function isCommandEvent(event: HistoryEvent): event is HistoryEventOf<keyof typeof COMMAND_EVENT_TYPES> {
  return event.type in COMMAND_EVENT_TYPES;
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
  readonly random: () => number;
  /** The last history event consumed. */
  lastEventId = 0;
  /** Set when workflow code did something forbidden; fails the task even if the code caught it. */
  violation: DeterminismViolationError | undefined;
  completed = false;
  replaying = true;

  private readonly undelivered: HistoryEvent[] = [];
  /** Commands emitted but not yet seen recorded in history, oldest first. */
  private readonly unmatched: Command[] = [];
  private checkingRecordedCommands = false;
  /** While replaying a task: the markers that task recorded, so sideEffect/patched answer as they did. */
  private recordedMarkers = new Map<string, HistoryEventOf<'MarkerRecorded'>>();
  private sideEffectSeq = 0;
  private readonly patchAnswers = new Map<string, boolean>();
  private activitySeq = 0;
  private timerSeq = 0;
  private readonly activities = new Map<string, Pending<unknown>>();
  private readonly activityIdsByEventId = new Map<number, string>();
  private readonly timers = new Map<string, Pending<void>>();
  readonly handlers = new HandlerRegistry((fn) => this.runInWorkflow(fn));
  private readonly conditions = new Set<{ predicate: () => boolean; resolve: (value: boolean) => void }>();
  private readonly timerIdsByEventId = new Map<number, string>();

  constructor(
    readonly info: Omit<WorkflowInfo, 'isReplaying' | 'startTime'> & { startTime?: number },
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
        this.matchRecordedCommand(event);
        continue;
      }
      this.finishCommandCheck(`event ${event.eventId} (${event.type})`);
      if (event.type === 'WorkflowExecutionStarted' && this.info.startTime === undefined) {
        this.info.startTime = event.timestamp;
      }
      if (event.type === 'WorkflowTaskCompleted') {
        // Replays the activation that task ran, with the events it had seen, at its time.
        this.now = event.attributes.taskTime;
        this.recordedMarkers = markersRecordedAfter(events, index);
        await this.deliver((e) => e.eventId <= event.attributes.seenUpToEventId);
        this.recordedMarkers = new Map();
        this.checkingRecordedCommands = true;
        continue;
      }
      this.undelivered.push(event);
    }
  }

  /**
   * Runs the current workflow task: delivers every event not yet seen at
   * `taskTime` and returns the commands the code emitted in response.
   */
  async activate(taskTime: number): Promise<Command[]> {
    this.finishCommandCheck('the end of the history');
    this.replaying = false;
    this.now = taskTime;
    const before = this.unmatched.length;
    await this.deliver(() => true);
    if (this.violation) throw this.violation;
    return this.unmatched.slice(before);
  }

  /** For replay checks: everything the code emitted must be recorded by the end of the history. */
  checkReplayComplete(): void {
    this.finishCommandCheck('the end of the history');
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
        pending?.resolve();
        return;
      }
      default:
        return;
    }
  }

  private start(args: unknown[]): void {
    const promise = workflowStorage.run(this, () => {
      try {
        return Promise.resolve(this.fn(...args));
      } catch (error) {
        return Promise.reject(error);
      }
    });
    promise.then(
      (result) => this.complete({ type: 'CompleteWorkflow', result: toPayload(result) }),
      (error: unknown) => this.failFromCode(error),
    );
  }

  private complete(command: Command): void {
    if (this.completed) return;
    this.completed = true;
    this.unmatched.push(command);
  }

  private settleActivity(scheduledEventId: number, settle: (pending: Pending<unknown>) => void): void {
    const activityId = this.activityIdsByEventId.get(scheduledEventId);
    const pending = activityId === undefined ? undefined : this.activities.get(activityId);
    if (!activityId || !pending) return;
    this.activities.delete(activityId);
    settle(pending);
  }

  private matchRecordedCommand(event: HistoryEventOf<keyof typeof COMMAND_EVENT_TYPES>): void {
    const expectedType = COMMAND_EVENT_TYPES[event.type];
    const emitted = this.unmatched.shift();
    if (!emitted || emitted.type !== expectedType) {
      throw new NonDeterminismError(
        `history event ${event.eventId} records ${expectedType}${describeEvent(event)}, but the workflow code ` +
          `${emitted ? `now emits ${emitted.type}${describeCommand(emitted)}` : 'no longer emits it'}; ` +
          'the code changed incompatibly for runs already in flight (keep the old path for them, or start new runs)',
      );
    }
    if (event.type === 'ActivityTaskScheduled') {
      const cmd = emitted as CommandOf<'ScheduleActivity'>;
      if (cmd.activityType !== event.attributes.activityType || cmd.activityId !== event.attributes.activityId) {
        throw new NonDeterminismError(
          `history event ${event.eventId} scheduled activity ${event.attributes.activityType} (id ${event.attributes.activityId}), ` +
            `but the workflow code now schedules ${cmd.activityType} (id ${cmd.activityId}) at that point`,
        );
      }
      this.activityIdsByEventId.set(event.eventId, cmd.activityId);
    } else if (event.type === 'TimerStarted') {
      this.timerIdsByEventId.set(event.eventId, (emitted as CommandOf<'StartTimer'>).timerId);
    }
  }

  /** After a task's recorded commands, everything the code emitted must have been recorded. */
  private finishCommandCheck(where: string): void {
    if (!this.checkingRecordedCommands) return;
    this.checkingRecordedCommands = false;
    const extra = this.unmatched[0];
    if (extra) {
      throw new NonDeterminismError(
        `the workflow code emits ${extra.type}${describeCommand(extra)} that the history does not record (before ${where}); ` +
          'the code changed incompatibly for runs already in flight',
      );
    }
  }

  /** Runs workflow code (a handler, a predicate) in this workflow's context; its failure fails the run. */
  private runInWorkflow(fn: () => unknown): void {
    const result = workflowStorage.run(this, () => {
      try {
        return Promise.resolve(fn());
      } catch (error) {
        return Promise.reject(error);
      }
    });
    result.catch((error: unknown) => this.failFromCode(error));
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
    return new Promise<boolean>((resolve) => {
      let timerId: string | undefined;
      const entry = {
        predicate,
        resolve: (value: boolean) => {
          // Satisfied before the timeout: the timer is no longer needed.
          if (timerId !== undefined && this.timers.delete(timerId)) this.emit({ type: 'CancelTimer', timerId });
          resolve(value);
        },
      };
      this.conditions.add(entry);
      if (timeoutMs !== undefined) {
        const timer = this.newTimer(timeoutMs);
        timerId = timer.timerId;
        void timer.fired.then(() => {
          if (!this.conditions.delete(entry)) return;
          resolve(false);
        });
      }
    });
  }

  scheduleActivity(command: Omit<CommandOf<'ScheduleActivity'>, 'type' | 'activityId'>): Promise<unknown> {
    const activityId = String(++this.activitySeq);
    this.emit({ type: 'ScheduleActivity', activityId, ...command });
    return this.track(
      new Promise((resolve, reject) => {
        this.activities.set(activityId, { resolve, reject });
      }),
    );
  }

  startTimer(durationMs: number): Promise<void> {
    return this.newTimer(durationMs).fired;
  }

  /**
   * Returns the value a side effect recorded the first time; runs `fn`
   * (outside the workflow's determinism, so it may use real randomness or
   * time) only when the code is not replaying.
   */
  sideEffect<T>(fn: () => T): T {
    const markerId = String(++this.sideEffectSeq);
    const recorded = this.recordedMarkers.get(markerKey('side-effect', markerId));
    const value = recorded && this.replaying ? fromPayload<T>(recorded.attributes.value) : workflowStorage.exit(fn);
    this.emit({ type: 'RecordMarker', markerName: 'side-effect', markerId, value: toPayload(value) });
    return value;
  }

  /**
   * True when this run takes the new branch of a code change: always for
   * new work, and on replay only if the task being replayed recorded the
   * patch. The answer is fixed per patch id for the rest of the run.
   */
  patched(patchId: string): boolean {
    const known = this.patchAnswers.get(patchId);
    if (known !== undefined) return known;
    const answer = !this.replaying || this.recordedMarkers.has(markerKey('patch', patchId));
    if (answer) this.emit({ type: 'RecordMarker', markerName: 'patch', markerId: patchId });
    this.patchAnswers.set(patchId, answer);
    return answer;
  }

  /**
   * The old branch is gone: new work records nothing, and replays of runs
   * that recorded the patch still match. Remove the call once those runs
   * have closed.
   */
  deprecatePatch(patchId: string): void {
    if (this.patchAnswers.has(patchId)) return;
    if (this.replaying && this.recordedMarkers.has(markerKey('patch', patchId))) {
      this.emit({ type: 'RecordMarker', markerName: 'patch', markerId: patchId });
    }
    this.patchAnswers.set(patchId, true);
  }

  private newTimer(durationMs: number): { timerId: string; fired: Promise<void> } {
    const timerId = String(++this.timerSeq);
    this.emit({ type: 'StartTimer', timerId, durationMs });
    const fired = this.track(
      new Promise<void>((resolve, reject) => {
        this.timers.set(timerId, { resolve, reject });
      }),
    );
    return { timerId, fired };
  }

  private emit(command: Command): void {
    if (this.completed) return;
    this.unmatched.push(command);
  }

  /** A rejection nobody awaited must not crash the worker process; the caller still sees it when it awaits. */
  private track<T>(promise: Promise<T>): Promise<T> {
    promise.catch(() => {});
    return promise;
  }
}

function markerKey(name: string, id: string): string {
  return `${name}\u0000${id}`;
}

/** The markers among the command events that follow a WorkflowTaskCompleted at `index`. */
function markersRecordedAfter(
  events: readonly HistoryEvent[],
  index: number,
): Map<string, HistoryEventOf<'MarkerRecorded'>> {
  const markers = new Map<string, HistoryEventOf<'MarkerRecorded'>>();
  for (let i = index + 1; i < events.length; i++) {
    const event = events[i]!;
    if (!isCommandEvent(event)) break;
    if (event.type === 'MarkerRecorded')
      markers.set(markerKey(event.attributes.markerName, event.attributes.markerId), event);
  }
  return markers;
}

function drainMicrotasks(): Promise<void> {
  // Workflow code only awaits promises the runtime settles, so once a
  // macrotask runs, every continuation the last event triggered has run.
  return new Promise((resolve) => realSetImmediate(resolve));
}

function describeEvent(event: HistoryEvent): string {
  return event.type === 'ActivityTaskScheduled' ? ` (activity ${event.attributes.activityType})` : '';
}

function describeCommand(command: Command): string {
  return command.type === 'ScheduleActivity' ? ` (activity ${command.activityType})` : '';
}
