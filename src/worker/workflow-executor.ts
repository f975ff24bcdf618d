import {
  type ActivityTask,
  errorToFailure,
  type FireTimerResponse,
  type HistoryEvent,
  type NextWorkflowTask,
  type NextWorkflowTaskOutcome,
  type Payload,
  type TidewayApi,
  Turns,
  type WorkflowTask,
} from '../protocol/index.js';
import { realDateNow } from '../workflow/determinism.js';
import { DeterminismViolationError, NonDeterminismError } from '../workflow/errors.js';
import { type WorkflowFunction, WorkflowInstance } from '../workflow/instance.js';
import type { EagerDispatch } from './eager-dispatch.js';
import { answerQueryTask, fetchTaskHistory } from './query-task.js';
import type { FunctionMap } from './registry.js';
import { type PromisedTimer, TimerWakes } from './timer-wakes.js';
import type { WorkflowCache } from './workflow-cache.js';

/**
 * How long a timer report waits for a free workflow slot to run the workflow
 * on in: well inside the engine's grace period (see TIMER_WAKE_GRACE_MS).
 */
const SLOT_WAIT_MS = 100;

/** A workflow task run ahead with an activity result: its completion, and what to do with the engine's answer. */
export interface RunAhead {
  next: NextWorkflowTask;
  /** Takes the engine's answer: a recorded completion keeps the run cached and runs the activities handed back. */
  settle(outcome: NextWorkflowTaskOutcome | undefined): Promise<void>;
}

/** How the worker reports a task outcome; the cause names the kind of failure. */
export type WorkflowTaskOutcome = 'completed' | 'failed';

/**
 * Runs one workflow task: takes the run from the cache if it is exactly
 * where this task starts, otherwise replays the full history; then
 * activates it at the task's time and sends back its commands.
 */
export class WorkflowExecutor {
  /** Cached runs whose copy ends at the history's last event, as far as this worker knows. */
  private readonly wholeHistory = new WeakSet<WorkflowInstance>();
  /**
   * The engine's clock minus this machine's, as the last task handed out
   * showed it: a task run ahead takes the engine's time, as a polled one does
   * (which also keeps a test environment's skipped time).
   */
  private engineClockOffset = 0;
  /** Workflow tasks of one run run one at a time. */
  private readonly runs = new Turns();
  /** The clocks of the timers this worker reports itself; undefined when it leaves them to the engine. */
  private readonly timerWakes: TimerWakes | undefined;

  constructor(
    private readonly api: TidewayApi,
    private readonly namespace: string,
    private readonly identity: string,
    private readonly workflows: FunctionMap,
    private readonly cache: WorkflowCache,
    private readonly eager?: EagerDispatch,
    options: { wakeTimers?: boolean } = {},
  ) {
    this.timerWakes = options.wakeTimers
      ? new TimerWakes((timer) => {
          const waking = this.wake(timer).finally(() => this.wakesInFlight.delete(waking));
          this.wakesInFlight.add(waking);
        })
      : undefined;
  }

  /** Timer reports on their way. */
  private readonly wakesInFlight = new Set<Promise<void>>();

  /**
   * Stops the worker's own timer clocks (at shutdown) and waits for reports
   * on their way: the engine fires the timers left after their grace period.
   */
  async stopTimerWakes(): Promise<void> {
    this.timerWakes?.stop();
    await Promise.allSettled([...this.wakesInFlight]);
  }

  async execute(task: WorkflowTask): Promise<WorkflowTaskOutcome> {
    const fn = this.workflows.get(task.workflowType) as WorkflowFunction | undefined;
    if (!fn) {
      // The server only hands out types this worker registered; this guards a stale registration.
      await this.fail(
        task,
        new Error(`workflow type "${task.workflowType}" is not registered on this worker`),
        'workflow-not-registered',
      );
      return 'failed';
    }
    if (task.query) {
      await answerQueryTask(this.api, this.namespace, task, task.query, this.newInstance(task, fn), () =>
        fetchTaskHistory(this.api, this.namespace, task),
      );
      return 'completed';
    }
    this.engineClockOffset = task.taskTime - realDateNow();
    // A run's next task can reach this worker before the previous one has put the run back in the cache
    // (the poll that claimed it may answer before the completion does): it waits, rather than replaying.
    return this.runs.run(task.runId, () => this.runTask(task, fn));
  }

  private async runTask(task: WorkflowTask, fn: WorkflowFunction): Promise<WorkflowTaskOutcome> {
    let instance: WorkflowInstance | undefined;
    try {
      instance = await this.prepare(task, fn);
      const commands = await instance.activate(task.taskTime, task.updates ?? []);
      const taskEvents = instance.taskEvents.splice(0);
      const decidedAt = takeTimerStartedAt(instance);
      const offer = this.eager?.offerActivities(task.taskQueue, commands);
      const wakes = this.timerWakes?.active ? TimerWakes.promised(commands) : [];
      let response: Awaited<ReturnType<TidewayApi['completeWorkflowTask']>>;
      try {
        response = await this.api.completeWorkflowTask(this.namespace, {
          taskToken: task.taskToken,
          identity: this.identity,
          commands,
          bufferedSignals: instance.handlers.pendingSignalNames,
          ...(taskEvents.length > 0 ? { taskEvents } : {}),
          ...(offer ? { eagerActivities: { max: offer.max, types: offer.types } } : {}),
          ...(wakes.length > 0 ? { wakesTimers: wakes } : {}),
          ...(this.cache.enabled ? { returnNewEvents: true } : {}),
          ...(decidedAt !== undefined ? { decidedAt } : {}),
        });
      } catch (error) {
        offer?.release(offer.max);
        throw error;
      }
      this.timerWakes?.setAll(task, commands, wakes, response?.newEvents);
      await this.keep(task.runId, instance, response?.newEvents);
      if (offer) {
        const handed = response?.activityTasks ?? [];
        offer.release(offer.max - handed.length);
        // After the cache update: an eager activity's result may come straight back as this run's next task.
        this.eager?.runActivities(handed);
      }
      return 'completed';
    } catch (error) {
      const cause =
        error instanceof NonDeterminismError
          ? 'nondeterminism'
          : error instanceof DeterminismViolationError
            ? 'determinism-violation'
            : 'workflow-task-error';
      await this.fail(task, error, cause);
      return 'failed';
    }
  }

  private newInstance(task: WorkflowTask, fn: WorkflowFunction): WorkflowInstance {
    return new WorkflowInstance(
      {
        namespace: this.namespace,
        workflowId: task.workflowId,
        runId: task.runId,
        workflowType: task.workflowType,
        taskQueue: task.taskQueue,
      },
      fn,
    );
  }

  /**
   * Keeps a run in the cache after a completion. With the events the
   * completion appended, its copy of the history is whole, so its next
   * activity result may carry the following task (see `runAhead`).
   */
  private async keep(runId: string, instance: WorkflowInstance, newEvents: HistoryEvent[] | undefined): Promise<void> {
    this.wholeHistory.delete(instance);
    if (instance.completed) return;
    // Events that arrived during the task come before the completion's own: then the copy stays where
    // it is, and the next task brings everything after it.
    if (newEvents && newEvents[0]?.eventId === instance.lastEventId + 1) {
      try {
        await instance.consume(newEvents);
      } catch {
        return; // Not a history this copy can follow: the next task replays it in full.
      }
      this.wholeHistory.add(instance);
    }
    this.cache.putUnlessNewer(runId, instance);
  }

  /**
   * An activity of a cached run finished: delivers the result to the cached
   * workflow and runs it on, here and now, as the workflow task the result
   * would create. The completion goes with the result; the engine records it
   * only if no other event reached the run meanwhile. Undefined when the run
   * is not cached whole, or the code fails here (the regular task then
   * replays and reports it).
   */
  async runAhead(activity: ActivityTask, result: Payload): Promise<RunAhead | undefined> {
    if (!this.workflows.has(activity.workflowType)) return undefined;
    const instance = this.takeWhole(activity.runId);
    if (!instance) return undefined;
    const scheduledEventId = instance.pendingActivityEventId(activity.activityId);
    if (scheduledEventId === undefined) {
      this.cache.put(activity.runId, instance);
      return undefined;
    }
    return this.advance(activity, instance, (eventId, timestamp) => ({
      eventId,
      type: 'ActivityTaskCompleted',
      timestamp,
      attributes: { scheduledEventId, result, attempt: activity.attempt, identity: this.identity },
    }));
  }

  /**
   * A promised timer's clock ran out: reports it, with the workflow task it
   * creates run ahead (in a workflow slot) when the run is cached whole. If
   * the report fails, the engine fires the timer after its grace period.
   */
  private async wake(timer: PromisedTimer): Promise<void> {
    await this.runs.run(timer.runId, async () => {
      // A copy that no longer awaits the timer saw it cancelled (a condition met before its timeout): moot.
      if (this.cache.peek(timer.runId)?.hasPendingTimer(timer.timerId) === false) return;
      // A burst of reports can hold every slot while the engine answers them: wait a little for one.
      let slot = await this.eager?.waitForWorkflowSlot(timer.workflowType, timer.taskQueue, SLOT_WAIT_MS);
      try {
        const ahead = slot ? await this.runAheadOnTimer(timer) : undefined;
        // The workflow code has run (if it could): the slot is free again while the report is out. The
        // answer hands back no workflow task to run in it (the activities it may hand back have slots of
        // their own), and the run stays this wake-up's until then. Held through the round trip, the slot
        // would keep the next timers of a burst waiting, late, or reported without their task.
        slot?.release();
        slot = undefined;
        let response: FireTimerResponse | undefined;
        try {
          response = await this.api.fireTimer(this.namespace, {
            runId: timer.runId,
            timerId: timer.timerId,
            identity: this.identity,
            ...(ahead ? { next: ahead.next } : {}),
          });
        } catch {
          // Not reported: the engine fires the timer itself once its grace period is over.
        }
        if (response?.outcome === 'not-due') this.timerWakes?.set(timer, response.dueInMs ?? 1);
        await ahead?.settle(response?.next);
      } catch {
        // The workflow's copy is dropped (not cached); its next task replays it.
      } finally {
        slot?.release();
      }
    });
  }

  private async runAheadOnTimer(timer: PromisedTimer): Promise<RunAhead | undefined> {
    const { started, timerId } = timer;
    if (!started) return undefined;
    const instance = this.takeWhole(timer.runId);
    if (!instance) return undefined;
    if (!instance.hasPendingTimer(timerId)) {
      this.cache.put(timer.runId, instance);
      return undefined;
    }
    return this.advance(
      timer,
      instance,
      (eventId, timestamp) => ({
        eventId,
        type: 'TimerFired',
        timestamp,
        attributes: { timerId, startedEventId: started.eventId },
      }),
      started.fireAt,
    );
  }

  /** The cached copy of a run if it ends at the history's last event; otherwise it stays cached. */
  private takeWhole(runId: string): WorkflowInstance | undefined {
    const instance = this.cache.take(runId);
    if (!instance) return undefined;
    if (this.wholeHistory.has(instance)) return instance;
    this.cache.put(runId, instance);
    return undefined;
  }

  /**
   * Delivers an event (an activity result, a fired timer) to a whole cached
   * copy and runs the workflow on, as the task that event would create:
   * the completion to send with the event, and how to take the engine's
   * answer. Undefined if the code fails here.
   */
  private async advance(
    run: { runId: string; workflowType: string; taskQueue: string },
    instance: WorkflowInstance,
    event: (eventId: number, timestamp: number) => HistoryEvent,
    notBefore = 0,
  ): Promise<RunAhead | undefined> {
    // From here the instance moves past what history records; it is cached again only if the engine agrees.
    this.wholeHistory.delete(instance);
    const afterEventId = instance.lastEventId;
    // A fired timer's task runs no earlier than the timer was due, however this machine's estimate of the
    // engine's clock errs (the engine refuses it otherwise).
    const now = Math.max(realDateNow() + this.engineClockOffset, notBefore);
    let next: NextWorkflowTask;
    let offer: ReturnType<EagerDispatch['offerActivities']>;
    let wakes: string[];
    try {
      await instance.consume([
        event(afterEventId + 1, now),
        {
          eventId: afterEventId + 2,
          type: 'WorkflowTaskScheduled',
          timestamp: now,
          attributes: { taskQueue: run.taskQueue },
        },
      ]);
      // Workflow time never goes back, whatever this machine's clock does.
      const taskTime = Math.max(now, instance.now);
      const commands = await instance.activate(taskTime);
      const taskEvents = instance.taskEvents.splice(0);
      const decidedAt = takeTimerStartedAt(instance);
      offer = this.eager?.offerActivities(run.taskQueue, commands);
      wakes = this.timerWakes?.active ? TimerWakes.promised(commands) : [];
      next = {
        afterEventId,
        taskTime,
        commands,
        bufferedSignals: instance.handlers.pendingSignalNames,
        ...(taskEvents.length > 0 ? { taskEvents } : {}),
        ...(offer ? { eagerActivities: { max: offer.max, types: offer.types } } : {}),
        ...(wakes.length > 0 ? { wakesTimers: wakes } : {}),
        ...(decidedAt !== undefined ? { decidedAt } : {}),
      };
    } catch {
      return undefined;
    }
    return {
      next,
      settle: async (outcome) => {
        if (!outcome?.applied) {
          offer?.release(offer.max);
          return;
        }
        this.timerWakes?.setAll(run, next.commands, wakes, outcome.newEvents);
        await this.keep(run.runId, instance, outcome.newEvents);
        const handed = outcome.activityTasks ?? [];
        offer?.release(offer.max - handed.length);
        this.eager?.runActivities(handed);
      },
    };
  }

  private async prepare(task: WorkflowTask, fn: WorkflowFunction): Promise<WorkflowInstance> {
    const cached = this.cache.take(task.runId);
    if (cached && task.eventsComplete && this.canContinue(cached, task)) {
      await cached.consume(task.events.filter((e) => e.eventId > cached.lastEventId));
      return cached;
    }
    const instance = this.newInstance(task, fn);
    const history =
      task.eventsComplete && task.previousSeenUpToEventId === 0
        ? task.events
        : await fetchTaskHistory(this.api, this.namespace, task);
    await instance.consume(history);
    return instance;
  }

  /**
   * Whether a cached copy can take the task's new events. A copy ends where
   * its last task started, or (whole) after the events that task appended.
   * A whole copy must not meet a task completed elsewhere since (an update's
   * task another worker ran): that task's decisions were never its own.
   */
  private canContinue(cached: WorkflowInstance, task: WorkflowTask): boolean {
    if (!this.wholeHistory.has(cached)) return cached.lastEventId === task.previousSeenUpToEventId;
    return (
      cached.lastEventId >= task.previousSeenUpToEventId &&
      cached.lastEventId <= task.lastEventId &&
      !task.events.some((e) => e.eventId > cached.lastEventId && e.type === 'WorkflowTaskCompleted')
    );
  }

  private async fail(task: WorkflowTask, error: unknown, cause: string): Promise<void> {
    try {
      await this.api.failWorkflowTask(this.namespace, {
        taskToken: task.taskToken,
        identity: this.identity,
        failure: errorToFailure(error),
        cause,
      });
    } catch {
      // The lease is gone (expired, run closed); the server will hand the task out again if still needed.
    }
  }
}

/**
 * When the activation's code last started a timer, by this worker's clock, for the completion's
 * `decidedAt`; rounded up, since Date.now() drops the fraction of a millisecond and a timer must not
 * count from before the code that started it ran.
 */
function takeTimerStartedAt(instance: WorkflowInstance): number | undefined {
  const at = instance.timerStartedAt;
  instance.timerStartedAt = undefined;
  return at === undefined ? undefined : at + 1;
}
