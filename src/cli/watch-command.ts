import type { Command } from 'commander';
import pc from 'picocolors';
import type { TaskEvent } from '../protocol/index.js';
import { addCommonOptions, type CommonOptions, connectClient, integerOption, print } from './common.js';
import { formatEventLine, formatProgressBar } from './event-format.js';

interface WatchOptions extends CommonOptions {
  runId?: string;
  after?: number;
  output: boolean;
}

/** Registers `workflow watch`: the live task event stream of a run. */
export function registerWatchCommand(workflow: Command): void {
  addCommonOptions(
    workflow
      .command('watch')
      .description(
        "follow a run's live task events (progress bars, milestones, stdout/stderr, task outcomes) until it closes; " +
          'with --json, one event per line',
      )
      .argument('<workflowId>')
      .option('--run-id <runId>', 'a specific run (default: the latest)')
      .option('--after <seq>', 'resume after this event seq', integerOption('--after', 0))
      .option('--no-output', "hide activities' stdout/stderr"),
  ).action(watchWorkflow);
}

async function watchWorkflow(workflowId: string, options: WatchOptions): Promise<void> {
  const client = await connectClient(options);
  const handle = client.workflow.getHandle(workflowId, options.runId);
  const stop = new AbortController();
  const onInterrupt = () => stop.abort();
  process.once('SIGINT', onInterrupt);
  const view = options.json ? undefined : new LiveView(options.output);
  try {
    for await (const event of handle.watchEvents({
      ...(options.after !== undefined ? { after: options.after } : {}),
      signal: stop.signal,
    })) {
      if (view) view.show(event);
      else process.stdout.write(`${JSON.stringify(event)}\n`);
    }
  } catch (error) {
    if (!stop.signal.aborted) throw error;
  } finally {
    view?.end();
    process.off('SIGINT', onInterrupt);
  }
}

/**
 * Prints events as lines. Progress is drawn as bars: on a terminal they
 * redraw in place below the log; elsewhere a line is printed when the
 * whole percentage changes, so logs stay short.
 */
class LiveView {
  private readonly tty = Boolean(process.stdout.isTTY);
  private readonly bars = new Map<string, string>();
  private readonly lastPercent = new Map<string, number>();
  private drawnLines = 0;

  constructor(private readonly showOutput: boolean) {}

  show(event: TaskEvent): void {
    if (event.kind === 'progress') {
      this.progress(event);
      return;
    }
    if (event.kind === 'stdout' || event.kind === 'stderr') {
      if (!this.showOutput) return;
      this.clearBars();
      const text = event.message ?? '';
      process.stdout.write(event.kind === 'stderr' ? pc.red(text) : text);
      if (!text.endsWith('\n')) process.stdout.write('\n');
      this.drawBars();
      return;
    }
    if (event.source === 'activity' && event.kind !== 'started' && event.kind !== 'heartbeat') {
      this.bars.delete(barKey(event));
    }
    if (event.kind === 'heartbeat') return;
    this.clearBars();
    print(formatEventLine(event));
    this.drawBars();
  }

  end(): void {
    this.clearBars();
  }

  private progress(event: TaskEvent): void {
    const bar = formatProgressBar(event);
    if (this.tty) {
      this.clearBars();
      this.bars.set(barKey(event), bar);
      this.drawBars();
      return;
    }
    const data = (event.data ?? {}) as { current?: number; total?: number };
    const percent = data.total ? Math.floor(((data.current ?? 0) / data.total) * 100) : -1;
    if (this.lastPercent.get(barKey(event)) === percent && percent >= 0) return;
    this.lastPercent.set(barKey(event), percent);
    print(bar);
  }

  private clearBars(): void {
    if (!this.tty || this.drawnLines === 0) return;
    process.stdout.write(`\x1b[${this.drawnLines}A\x1b[0J`);
    this.drawnLines = 0;
  }

  private drawBars(): void {
    if (!this.tty) return;
    for (const bar of this.bars.values()) process.stdout.write(`${bar}\n`);
    this.drawnLines = this.bars.size;
  }
}

function barKey(event: TaskEvent): string {
  return `${event.activityId ?? event.source}:${event.attempt ?? 0}`;
}
