import type { Command, HistoryEvent, HistoryEventOf } from '../protocol/index.js';
import { fromPayload, toPayload } from '../protocol/index.js';
import { isCommandEvent } from './command-matcher.js';
import { workflowStorage } from './context.js';

/**
 * Markers: values and decisions recorded once in the history and read back
 * on replay — side effects and patches. While a past task is replayed, the
 * markers that task recorded are known in advance (they follow its
 * WorkflowTaskCompleted), so the code answers exactly as it did then.
 */
export class Markers {
  private recorded = new Map<string, HistoryEventOf<'MarkerRecorded'>>();
  private sideEffectSeq = 0;
  private readonly patchAnswers = new Map<string, boolean>();

  constructor(
    private readonly emit: (command: Command) => void,
    private readonly isReplaying: () => boolean,
  ) {}

  /** A past task at `index` is about to be replayed. */
  replayingTask(events: readonly HistoryEvent[], index: number): void {
    this.recorded = markersRecordedAfter(events, index);
  }

  doneReplayingTask(): void {
    this.recorded = new Map();
  }

  /**
   * Returns the value a side effect recorded the first time; runs `fn`
   * (outside the workflow's determinism, so it may use real randomness or
   * time) only when the code is not replaying.
   */
  sideEffect<T>(fn: () => T): T {
    const markerId = String(++this.sideEffectSeq);
    const recorded = this.recorded.get(markerKey('side-effect', markerId));
    const value = recorded && this.isReplaying() ? fromPayload<T>(recorded.attributes.value) : workflowStorage.exit(fn);
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
    const answer = !this.isReplaying() || this.recorded.has(markerKey('patch', patchId));
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
    if (this.isReplaying() && this.recorded.has(markerKey('patch', patchId))) {
      this.emit({ type: 'RecordMarker', markerName: 'patch', markerId: patchId });
    }
    this.patchAnswers.set(patchId, true);
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
