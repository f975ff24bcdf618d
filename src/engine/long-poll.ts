import type { z } from 'zod';
import { type PollRequest, PollRequestSchema } from '../protocol/index.js';
import { type PollerKind, type PollerRegistration, recordPollers } from '../store/index.js';
import { checkNamespace, type EngineContext } from './context.js';
import { notifyKeys } from './notifier.js';
import { parseRequest } from './parse.js';

/** When the next task of a queue becomes visible, and whether one is visible already. */
export interface NextVisible {
  at: number | undefined;
  visibleNow: boolean;
}

type ParsedPoll = z.output<typeof PollRequestSchema>;

/**
 * A worker's poll of one queue, for either kind of task: validates it,
 * remembers the poller's types, then claims or waits.
 */
export async function pollTaskQueue<T>(args: {
  ctx: EngineContext;
  pollers: PollerRegistry;
  kind: PollerKind;
  namespace: string;
  raw: PollRequest;
  signal?: AbortSignal | undefined;
  claim: (request: ParsedPoll, now: number, sawQueue: (after: NextVisible) => void) => Promise<T | undefined>;
  nextVisibleAt: (taskQueue: string, now: number) => Promise<NextVisible>;
  /** Lets a start hand this poll a task directly while it waits (see `WaitingPolls`). */
  handoffs?: (request: ParsedPoll) => Handoffs<T>;
}): Promise<T | null> {
  checkNamespace(args.namespace);
  const request = parseRequest(PollRequestSchema, args.raw, 'poll request');
  await args.pollers.record(args.namespace, request, args.kind);
  const key = args.kind === 'workflow' ? notifyKeys.workflowQueue : notifyKeys.activityQueue;
  return longPoll({
    ctx: args.ctx,
    key: key(args.namespace, request.taskQueue),
    hintKey: `${key(args.namespace, request.taskQueue)}\u0000${[...request.types].sort().join('\u0000')}`,
    waitMs: request.waitMs,
    signal: args.signal,
    tryClaim: (now, sawQueue) => args.claim(request, now, sawQueue),
    nextVisibleAt: (now) => args.nextVisibleAt(request.taskQueue, now),
    ...(args.handoffs ? { handoffs: args.handoffs(request) } : {}),
  });
}

/** A wait's registration where a task can be handed to it (see `WaitingPolls.enter`). */
export interface Handoffs<T> {
  enter(): { taken: Promise<void>; leave(): Promise<T | undefined> };
}

/**
 * Claims a task, or waits for one: woken by a notification when work
 * arrives, or at the time the next backing-off task becomes visible, never
 * by polling the database on an interval. A queue a claim just found empty
 * (and that has not been notified since) is not asked again: an idle
 * worker's re-poll costs no query.
 */
export async function longPoll<T>(args: {
  ctx: EngineContext;
  key: string;
  /** The queue and the poller's types: what one claim found empty. Default: `key`. */
  hintKey?: string;
  waitMs: number;
  signal?: AbortSignal | undefined;
  /**
   * Claims a task visible at `now`. A claim that can also tell how it left
   * the queue says so through `sawQueue` (what `nextVisibleAt` would answer
   * right after it): then a claim that took everything visible marks the
   * queue empty, and an empty one needs no second look.
   */
  tryClaim: (now: number, sawQueue: (after: NextVisible) => void) => Promise<T | undefined>;
  /**
   * The earliest time after `now` a task becomes visible; with `visibleNow`, also whether some task
   * is visible already (one a concurrent claim holds locked, or of another type).
   */
  nextVisibleAt: (now: number) => Promise<NextVisible | number | undefined>;
  /** While it waits, the poll can be handed a task directly; it returns that task. */
  handoffs?: Handoffs<T> | undefined;
}): Promise<T | null> {
  const { ctx } = args;
  const hints = ctx.notifier.emptyQueues;
  const hintKey = args.hintKey ?? args.key;
  const deadline = ctx.clock.now() + args.waitMs;
  const signal = args.signal ? AbortSignal.any([args.signal, ctx.closing]) : ctx.closing;
  for (let first = true; ; first = false) {
    if (signal.aborted) return null;
    // After the first look, a wait that ran out is the answer: no claim at the deadline (the worker
    // polls again at once, and that poll looks).
    if (!first && ctx.clock.now() >= deadline) return null;
    const subscription = ctx.notifier.subscribe(args.key);
    try {
      // Taken before the claim: a notification during the claim makes the empty result stale.
      const generation = hints.generation(args.key);
      // One instant for both questions: a task that became visible between a claim
      // at one time and a look-ahead at a later one would otherwise be missed by both.
      const claimedAt = ctx.clock.now();
      let until = hints.knownEmptyUntil(hintKey, generation, claimedAt);
      if (until === undefined) {
        let after: NextVisible | undefined;
        const task = await args.tryClaim(claimedAt, (seen) => {
          after = seen;
        });
        if (task !== undefined) {
          if (after && !after.visibleNow) {
            // This claim took everything claimable: the worker's next poll waits for a notification
            // instead of claiming again (and polls waiting on a recheck find the queue known empty).
            hints.markEmpty(hintKey, generation, claimedAt, after.at);
          } else if (hints.forget(hintKey)) {
            // Polls waiting out this poll's recheck of the queue look again now: there may be more.
            ctx.notifier.wakeLocal(args.key);
          }
          return task;
        }
        if (ctx.clock.now() >= deadline || signal.aborted) return null;
        const next = after ?? (await args.nextVisibleAt(claimedAt));
        const { at: visibleAt, visibleNow } = typeof next === 'object' ? next : { at: next, visibleNow: false };
        // A visible task this claim did not get is being claimed by another poll (its lease, when it
        // commits, sends no notification) or is of other types: the queue is not known to be empty.
        if (visibleNow) {
          if (hints.forget(hintKey)) ctx.notifier.wakeLocal(args.key);
        } else hints.markEmpty(hintKey, generation, claimedAt, visibleAt);
        until = visibleAt ?? Number.POSITIVE_INFINITY;
      } else if (claimedAt >= deadline) {
        return null;
      }
      const waited = subscription.wait(Math.max(1, Math.min(deadline, until) - ctx.clock.now()), signal);
      const waiting = args.handoffs?.enter();
      await (waiting ? Promise.race([waited, waiting.taken]) : waited);
      // A handed task is the answer even if the poll was cut off meanwhile: its lease is taken, and the
      // caller gives back what it cannot deliver (as for a claim that finished after a cancel).
      const handed = await waiting?.leave();
      if (handed !== undefined) return handed;
    } finally {
      subscription.dispose();
    }
  }
}

/** How often a poller's registration is refreshed in the database, at most. */
const POLLER_REFRESH_MS = 30_000;

interface KnownPoller {
  registration: PollerRegistration & { types: string[] };
  /** As JSON: a change of types is written at once. */
  types: string;
  writtenAt: number;
  polledAt: number;
  /** The poll's wait: a poller still polling asks again within it. */
  waitMs: number;
}

/** Slack on top of a poll's wait before its poller counts as gone. */
const POLLER_GONE_SLACK_MS = 5_000;

/**
 * Remembers which worker polls which queue with which types, so a start
 * naming an unregistered workflow can be rejected. A new poller or a change
 * of types is written at once; refreshes are throttled, and every poller
 * still polling is refreshed in the same statement, so many idle workers on
 * one server cost one write per period, not one each.
 */
export class PollerRegistry {
  private readonly known = new Map<string, KnownPoller>();
  constructor(private readonly ctx: EngineContext) {}

  /** Remembers a poll already checked against its schema (`pollTaskQueue` checks it first). */
  async record(
    namespace: string,
    parsed: Pick<ParsedPoll, 'taskQueue' | 'identity' | 'types' | 'waitMs'>,
    kind: PollerKind,
  ): Promise<void> {
    const key = `${namespace}\u0000${parsed.taskQueue}\u0000${kind}\u0000${parsed.identity}`;
    const types = JSON.stringify(parsed.types);
    const now = this.ctx.clock.now();
    const last = this.known.get(key);
    if (last) {
      last.polledAt = now;
      last.waitMs = parsed.waitMs;
    }
    if (last && last.types === types && now - last.writtenAt < POLLER_REFRESH_MS) return;
    const registration = {
      namespace,
      taskQueue: parsed.taskQueue,
      identity: parsed.identity,
      kind,
      types: parsed.types,
    };
    this.known.set(key, { registration, types, writtenAt: now, polledAt: now, waitMs: parsed.waitMs });
    const batch = [registration];
    for (const [otherKey, other] of this.known) {
      if (otherKey === key) continue;
      if (now - other.polledAt > other.waitMs + POLLER_GONE_SLACK_MS) {
        // Not polling any more (stopped, or moved to another replica): let its registration age out.
        this.known.delete(otherKey);
      } else if (now - other.writtenAt >= POLLER_REFRESH_MS / 2) {
        batch.push(other.registration);
        other.writtenAt = now;
      }
    }
    await recordPollers(this.ctx.db, batch, now);
  }
}
