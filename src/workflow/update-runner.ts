import {
  type Command,
  errorToFailure,
  fromPayloads,
  type HistoryEvent,
  type Payload,
  toPayload,
  toPayloads,
} from '../protocol/index.js';
import { isCommandEvent } from './command-matcher.js';
import type { HandlerRegistry } from './handlers.js';

/** An update a workflow task carries for the workflow to validate. */
export interface UpdateRequest {
  updateId: string;
  updateName: string;
  args: Payload[];
}

/**
 * Validates and runs updates. New ones arrive with a workflow task and are
 * validated there: a rejection becomes a RejectUpdate command that is never
 * recorded; an accepted one is recorded (AcceptUpdate) and its handler runs,
 * its outcome recorded by CompleteUpdate. On replay, the updates a past task
 * accepted are read ahead from its recorded commands and run again at the
 * same point, without their validators.
 */
export class UpdateRunner {
  private rejections: Command[] = [];

  constructor(
    private readonly handlers: HandlerRegistry,
    private readonly emit: (command: Command) => void,
    /** Calls workflow code in the workflow's context and root scope. */
    private readonly call: (fn: () => unknown) => Promise<unknown>,
    private readonly callSync: <T>(fn: () => T) => T,
  ) {}

  /** Validates and accepts (or rejects) the updates a task brought, in order. */
  receive(updates: readonly UpdateRequest[]): void {
    for (const update of updates) {
      const args = fromPayloads(update.args);
      const entry = this.handlers.getUpdate(update.updateName);
      try {
        if (!entry) {
          const known = this.handlers.updateNames;
          throw new Error(
            `workflow has no handler for update "${update.updateName}"; it handles: ${known.length ? known.join(', ') : '(no updates)'}`,
          );
        }
        const verdict = entry.validator ? this.callSync(() => entry.validator?.(...args)) : undefined;
        if (verdict && typeof (verdict as PromiseLike<unknown>).then === 'function') {
          throw new Error(
            `validator of update "${update.updateName}" returned a promise; validators must be synchronous`,
          );
        }
      } catch (error) {
        this.rejections.push({ type: 'RejectUpdate', updateId: update.updateId, failure: errorToFailure(error) });
        continue;
      }
      this.accept(update.updateId, update.updateName, args);
    }
  }

  /** Replaying a past task: accepts the updates it recorded as accepted. */
  replayAccepted(events: readonly HistoryEvent[], index: number): void {
    for (let i = index + 1; i < events.length; i++) {
      const event = events[i]!;
      if (!isCommandEvent(event)) break;
      if (event.type === 'WorkflowExecutionUpdateAccepted') {
        this.accept(event.attributes.updateId, event.attributes.updateName, fromPayloads(event.attributes.input));
      }
    }
  }

  private accept(updateId: string, updateName: string, args: unknown[]): void {
    this.emit({ type: 'AcceptUpdate', updateId, updateName, input: toPayloads(args) });
    const handler = this.handlers.getUpdate(updateName)?.handler;
    const running = handler
      ? this.call(() => handler(...args))
      : Promise.reject(new Error(`workflow no longer handles update "${updateName}"`));
    running.then(
      (result) => this.emit({ type: 'CompleteUpdate', updateId, result: toPayload(result) }),
      // A failing handler fails the update, not the workflow.
      (error: unknown) => this.emit({ type: 'CompleteUpdate', updateId, failure: errorToFailure(error) }),
    );
  }

  /** Rejections decided in this task; they are sent with its commands but never recorded or matched. */
  takeRejections(): Command[] {
    const taken = this.rejections;
    this.rejections = [];
    return taken;
  }
}
