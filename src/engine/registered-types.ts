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

  knownRecently(namespace: string, taskQueue: string, workflowType: string, now: number): boolean {
    const entry = this.seen.get(`${namespace}\u0000${taskQueue}`);
    return entry !== undefined && now - entry.at < KNOWN_TYPE_TTL_MS && entry.types.has(workflowType);
  }

  remember(namespace: string, taskQueue: string, types: Set<string>, now: number): void {
    this.seen.set(`${namespace}\u0000${taskQueue}`, { types, at: now });
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
  const pollers = await recentPollerTypes(ctx.db, {
    namespace,
    taskQueue,
    kind: 'workflow',
    since: now - REGISTERED_TYPES_WINDOW_MS,
  });
  if (pollers.length === 0) return;
  const known = new Set(pollers.flatMap((p) => p.types));
  if (known.has(workflowType)) {
    ctx.registeredTypes.remember(namespace, taskQueue, known, now);
    return;
  }
  throw new TidewayApiError(
    'InvalidArgument',
    `no worker on task queue "${taskQueue}" (namespace "${namespace}") registers workflow "${workflowType}"; ` +
      `registered: ${[...known].sort().join(', ') || '(none)'}. Check the name or start a worker that registers it`,
    { workflowType, taskQueue, registered: [...known].sort() },
  );
}
