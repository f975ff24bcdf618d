import { type Duration, TASK_EVENT_LIMITS, toMs } from '../protocol/index.js';
import { currentWorkflow } from './context.js';
import type { WorkflowInfo } from './instance.js';

/**
 * A durable sleep: recorded as a timer in the history and fired by the
 * server, so it survives restarts of workers and servers. Never fires early.
 */
export function sleep(duration: Duration): Promise<void> {
  const instance = currentWorkflow('sleep');
  return instance.startTimer(toMs(duration));
}

/** Facts about the current run. */
export function workflowInfo(): WorkflowInfo {
  const instance = currentWorkflow('workflowInfo');
  return {
    ...instance.info,
    startTime: instance.info.startTime ?? instance.now,
    attempt: instance.info.attempt ?? 1,
    isReplaying: instance.replaying,
  };
}

/** A random (v4) UUID that is the same on every replay of this run. */
export function uuid4(): string {
  const instance = currentWorkflow('uuid4');
  const bytes = Array.from({ length: 16 }, () => Math.floor(instance.random() * 256));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** True when called from workflow code (for helpers shared with non-workflow code). */
export function inWorkflowContext(): boolean {
  try {
    currentWorkflow('inWorkflowContext');
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `fn` once and records its value in the history; replays return the
 * recorded value without running it. For small non-deterministic values
 * (a random id, a timestamp) that do not warrant an activity. `fn` must be
 * synchronous and must not fail.
 */
export function sideEffect<T>(fn: () => T): T {
  return currentWorkflow('sideEffect').markers.sideEffect(fn);
}

/**
 * Lets workflow code change safely while old runs are in flight:
 * `if (patched('v2-pricing')) { new code } else { old code }`. New work and
 * runs that already took the new branch get true; replays of older runs get
 * false and follow the old code.
 */
export function patched(patchId: string): boolean {
  return currentWorkflow('patched').markers.patched(patchId);
}

/** Marks a patch whose old branch has been removed (see `patched`). */
export function deprecatePatch(patchId: string): void {
  currentWorkflow('deprecatePatch').markers.deprecatePatch(patchId);
}

/**
 * Marks a step for people watching the run (`tideway workflow watch`,
 * `handle.watchEvents()`): recorded once, when the code first runs, never
 * again on replay, and never read back, so it cannot affect what the
 * workflow does. `data` is copied as JSON when the call is made (data that
 * JSON cannot encode, or over 64 KiB, is replaced by a note saying so).
 * At most 500 per workflow task, and 1 MiB in all, are kept.
 */
export function milestone(name: string, data?: unknown): void {
  const instance = currentWorkflow('milestone');
  // Checked on replay too: code that catches this error must take the same path every time.
  if (Buffer.byteLength(name) > TASK_EVENT_LIMITS.maxMessageBytes) {
    throw new RangeError(
      `milestone name is over ${TASK_EVENT_LIMITS.maxMessageBytes} bytes; use a short name and put details in data`,
    );
  }
  if (instance.replaying || instance.taskEvents.length >= TASK_EVENT_LIMITS.maxEventsPerReport) return;
  const snapshot = data === undefined ? undefined : jsonSnapshot(data);
  const bytes = Buffer.byteLength(name) + (snapshot?.bytes ?? 0);
  // The milestones travel with the task's completion: too many bytes would make the completion itself fail.
  let queued = 0;
  for (const event of instance.taskEvents) queued += milestoneBytes.get(event) ?? 0;
  if (queued + bytes > MAX_MILESTONE_BYTES_PER_TASK) return;
  const event = {
    kind: 'milestone' as const,
    message: name,
    time: instance.now,
    ...(snapshot?.value !== undefined ? { data: snapshot.value } : {}),
  };
  milestoneBytes.set(event, bytes);
  instance.taskEvents.push(event);
}

const MAX_MILESTONE_BYTES_PER_TASK = 1024 * 1024;
const milestoneBytes = new WeakMap<object, number>();

/** A JSON copy of milestone data: later changes to the object, or values JSON cannot encode, do not reach the wire. */
function jsonSnapshot(data: unknown): { value: unknown; bytes: number } {
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch (error) {
    return { value: { omitted: `not encodable as JSON: ${(error as Error).message}` }, bytes: 100 };
  }
  if (json === undefined) return { value: undefined, bytes: 0 };
  const bytes = Buffer.byteLength(json);
  if (bytes > TASK_EVENT_LIMITS.maxDataBytes) {
    return { value: { omitted: `${bytes} bytes, over the task event limit` }, bytes: 100 };
  }
  return { value: JSON.parse(json), bytes };
}
