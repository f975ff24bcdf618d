import type { Command, CommandOf, HistoryEvent, HistoryEventOf } from '../protocol/index.js';
import { NonDeterminismError } from './errors.js';

/** Events that are the record of a command; replay matches them against what the code emits. */
export const COMMAND_EVENT_TYPES = {
  ActivityTaskScheduled: 'ScheduleActivity',
  ActivityTaskCancelRequested: 'RequestCancelActivity',
  TimerStarted: 'StartTimer',
  TimerCanceled: 'CancelTimer',
  MarkerRecorded: 'RecordMarker',
  StartChildWorkflowExecutionInitiated: 'StartChildWorkflow',
  ChildWorkflowCancelRequested: 'RequestCancelChildWorkflow',
  WorkflowExecutionUpdateAccepted: 'AcceptUpdate',
  WorkflowExecutionUpdateCompleted: 'CompleteUpdate',
  WorkflowExecutionCompleted: 'CompleteWorkflow',
  WorkflowExecutionFailed: 'FailWorkflow',
  WorkflowExecutionCanceled: 'CancelWorkflow',
  WorkflowExecutionContinuedAsNew: 'ContinueAsNew',
} as const satisfies Partial<Record<HistoryEvent['type'], Command['type']>>;

export type CommandEvent = HistoryEventOf<keyof typeof COMMAND_EVENT_TYPES>;

export function isCommandEvent(event: HistoryEvent): event is CommandEvent {
  return event.type in COMMAND_EVENT_TYPES;
}

/**
 * Holds the commands workflow code emitted until the history shows them
 * recorded, and checks that it does: same kinds, same order, same activity
 * types. Any difference is a `NonDeterminismError`.
 */
export class CommandMatcher {
  /** Commands emitted but not yet seen recorded in history, oldest first. */
  private readonly unmatched: Command[] = [];
  private checking = false;
  /** Activity ids by the event id that scheduled them, learnt while matching. */
  readonly activityIdsByEventId = new Map<number, string>();
  /** The other way round: the event that scheduled each activity. */
  readonly eventIdsByActivityId = new Map<string, number>();

  get pendingCount(): number {
    return this.unmatched.length;
  }

  add(command: Command): void {
    this.unmatched.push(command);
  }

  /** The commands emitted since `pendingCount` was `from`. */
  since(from: number): Command[] {
    return this.unmatched.slice(from);
  }

  /** A task's recorded commands follow its WorkflowTaskCompleted event: check them from here on. */
  startTaskCommands(): void {
    this.checking = true;
  }

  match(event: CommandEvent): void {
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
      this.eventIdsByActivityId.set(cmd.activityId, event.eventId);
    }
  }

  /** After a task's recorded commands, everything the code emitted must have been recorded. */
  finish(where: string): void {
    if (!this.checking) return;
    this.checking = false;
    const extra = this.unmatched[0];
    if (extra) {
      throw new NonDeterminismError(
        `the workflow code emits ${extra.type}${describeCommand(extra)} that the history does not record (before ${where}); ` +
          'the code changed incompatibly for runs already in flight',
      );
    }
  }
}

function describeEvent(event: HistoryEvent): string {
  return event.type === 'ActivityTaskScheduled' ? ` (activity ${event.attributes.activityType})` : '';
}

function describeCommand(command: Command): string {
  return command.type === 'ScheduleActivity' ? ` (activity ${command.activityType})` : '';
}
