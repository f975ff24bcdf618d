import pc from 'picocolors';
import type { TaskEvent } from '../protocol/index.js';
import { formatJson, formatTimestamp } from './format.js';

/** Who an event is about: `workflow`, `run`, or `exportRows#2` (activity type and attempt). */
export function eventSource(event: TaskEvent): string {
  if (event.source !== 'activity') return event.source;
  return `${event.activityType ?? 'activity'}#${event.attempt ?? 1}`;
}

const KIND_COLOR: Partial<Record<TaskEvent['kind'], (text: string) => string>> = {
  completed: pc.green,
  failed: pc.red,
  'timed-out': pc.red,
  retrying: pc.yellow,
  cancelled: pc.yellow,
  milestone: pc.cyan,
  closed: pc.bold,
};

/** One line per event (output chunks excepted, which are printed as they are). */
export function formatEventLine(event: TaskEvent): string {
  const color = KIND_COLOR[event.kind] ?? ((text: string) => text);
  const parts = [
    pc.dim(String(event.seq).padStart(5)),
    pc.dim(formatTimestamp(event.time, true)),
    eventSource(event).padEnd(18),
    color(event.kind.padEnd(9)),
  ];
  if (event.message) parts.push(event.message);
  const data = event.kind === 'closed' ? withoutStatus(event.data) : event.data;
  if (data !== undefined && event.kind !== 'progress') parts.push(pc.dim(formatJson(data)));
  return parts.join('  ').trimEnd();
}

/** `[██████░░░░░░]  40/100 rows  40%` for a progress event with a total; the summary alone otherwise. */
export function formatProgressBar(event: TaskEvent, width = 24): string {
  const data = (event.data ?? {}) as { current?: number; total?: number };
  const label = `${eventSource(event)} ${event.message ?? ''}`;
  if (typeof data.current !== 'number' || typeof data.total !== 'number' || data.total <= 0) return label;
  const ratio = Math.max(0, Math.min(1, data.current / data.total));
  const filled = Math.round(ratio * width);
  return `${label}  [${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${Math.round(ratio * 100)}%`;
}

/** A close event's message already says the status; show only the rest (e.g. nextRunId). */
function withoutStatus(data: unknown): unknown {
  if (!data || typeof data !== 'object') return data;
  const { status: _status, ...rest } = data as Record<string, unknown>;
  return Object.keys(rest).length > 0 ? rest : undefined;
}
