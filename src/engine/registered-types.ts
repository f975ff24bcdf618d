import { TidewayApiError } from '../protocol/index.js';
import { recentPollerTypes } from '../store/index.js';
import type { EngineContext } from './context.js';

/** A start names a workflow no worker registered only if some worker polled the queue this recently. */
export const REGISTERED_TYPES_WINDOW_MS = 60_000;
/**
 * How long a workflow type seen registered is trusted without asking the
 * database again. A start is the hottest control-plane call; re-reading the
 * pollers table for every one of them would cost a query per workflow.
 */
const KNOWN_TYPE_TTL_MS = 5_000;

/** Workflow types recently seen registered, per namespace and task queue. */
export class RegisteredTypes {
  private readonly seen = new Map<string, { types: Set<string>; at: number }>();
  /** Reads of the pollers table under way: a burst of starts on a queue shares one instead of one each. */
  private readonly reading = new Map<string, Promise<Set<string> | undefined>>();

  knownRecently(namespace: string, taskQueue: string, workflowType: string, now: number): boolean {
    const entry = this.seen.get(`${namespace}\u0000${taskQueue}`);
    return entry !== undefined && now - entry.at < KNOWN_TYPE_TTL_MS && entry.types.has(workflowType);
  }

  /**
   * The workflow types registered by the queue's recent pollers (undefined
   * if none polled it lately), from `read`, or from a read already under way.
   */
  async registered(
    namespace: string,
    taskQueue: string,
    now: number,
    read: () => Promise<{ types: string[] }[]>,
  ): Promise<Set<string> | undefined> {
    const key = `${namespace}\u0000${taskQueue}`;
    let reading = this.reading.get(key);
    if (!reading) {
      reading = read()
        .then((pollers) => {
          if (pollers.length === 0) return undefined;
          const types = new Set(pollers.flatMap((p) => p.types));
          this.seen.set(key, { types, at: now });
          return types;
        })
        .finally(() => this.reading.delete(key));
      this.reading.set(key, reading);
    }
    return reading;
  }
}

/**
 * Catches a misspelt workflow name at start: when workers have polled the
 * queue recently and none of them registers the type, nothing would ever run it.
 */
export async function checkWorkflowTypeKnown(
  ctx: EngineContext,
  namespace: string,
  taskQueue: string,
  workflowType: string,
): Promise<void> {
  const now = ctx.clock.now();
  if (ctx.registeredTypes.knownRecently(namespace, taskQueue, workflowType, now)) return;
  const known = await ctx.registeredTypes.registered(namespace, taskQueue, now, () =>
    recentPollerTypes(ctx.db, { namespace, taskQueue, kind: 'workflow', since: now - REGISTERED_TYPES_WINDOW_MS }),
  );
  if (known === undefined || known.has(workflowType)) return;
  throw new TidewayApiError(
    'InvalidArgument',
    `no worker on task queue "${taskQueue}" (namespace "${namespace}") registers workflow "${workflowType}"; ` +
      `registered: ${[...known].sort().join(', ') || '(none)'}. Check the name or start a worker that registers it`,
    { workflowType, taskQueue, registered: [...known].sort() },
  );
}
