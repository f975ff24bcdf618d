import {
  type ClusterInfo,
  CONTROL_PLANE_VERSION,
  type TidewayApi,
  SERVER_VERSION,
  WORKER_PROTOCOL_VERSION,
} from '../protocol/index.js';
import { type Db, openDb, type StoreOptions } from '../store/index.js';
import { completeActivityTask, failActivityTask, heartbeatActivityTask, pollActivityTask } from './activity-tasks.js';
import { type Clock, systemClock } from './clock.js';
import { createContext, type EngineContext } from './context.js';
import { PollerRegistry } from './long-poll.js';
import { Notifier } from './notifier.js';
import { startWorkflow } from './start-workflow.js';
import { TimerService } from './timer-service.js';
import { describeWorkflow, getWorkflowHistory, getWorkflowResult, listWorkflows } from './visibility.js';
import { completeWorkflowTask, failWorkflowTask, pollWorkflowTask } from './workflow-tasks.js';

export const DEFAULT_MAX_PAYLOAD_BYTES = 2 * 1024 * 1024;

export interface EngineOptions extends StoreOptions {
  clock?: Clock;
  /** Largest single payload (workflow input, activity result, command) accepted, in bytes. Default 2 MB. */
  maxPayloadBytes?: number;
  /** Run the timer service in this process (default true). */
  timers?: boolean;
  onError?: (error: unknown) => void;
}

/**
 * The engine: every operation of the Tideway API, applied to the store in
 * one transaction per state transition. The HTTP server and the in-process
 * transport both call this.
 */
export class Engine implements TidewayApi {
  private readonly pollers: PollerRegistry;
  private readonly timerService: TimerService | undefined;
  private closed = false;

  private constructor(
    readonly ctx: EngineContext,
    timers: boolean,
    onError: (error: unknown) => void,
  ) {
    this.pollers = new PollerRegistry(ctx);
    this.timerService = timers ? new TimerService(ctx, onError) : undefined;
  }

  /** Opens (and migrates) the store, starts listening for wake-ups and the timer service. */
  static async open(options: EngineOptions = {}): Promise<Engine> {
    const db = await openDb(options);
    return Engine.fromDb(db, options);
  }

  static async fromDb(db: Db, options: Omit<EngineOptions, keyof StoreOptions> = {}): Promise<Engine> {
    const notifier = new Notifier();
    await notifier.start(db);
    const ctx = createContext({
      db,
      clock: options.clock ?? systemClock,
      notifier,
      maxPayloadBytes: options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
    });
    const onError = options.onError ?? ((error) => console.error('[tideway] timer service error:', error));
    const engine = new Engine(ctx, options.timers ?? true, onError);
    engine.timerService?.start();
    return engine;
  }

  get db(): Db {
    return this.ctx.db;
  }

  /** Wakes the timer service at once (after a test clock skipped forward). */
  pokeTimers(): void {
    this.timerService?.poke();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.timerService?.stop();
    await this.ctx.notifier.stop();
    await this.ctx.db.close();
  }

  async clusterInfo(): Promise<ClusterInfo> {
    return {
      serverVersion: SERVER_VERSION,
      controlPlaneVersion: CONTROL_PLANE_VERSION,
      workerProtocolVersion: WORKER_PROTOCOL_VERSION,
      store: this.ctx.db.kind,
      maxPayloadBytes: this.ctx.maxPayloadBytes,
    };
  }

  startWorkflow: TidewayApi['startWorkflow'] = (ns, request) => startWorkflow(this.ctx, ns, request);
  describeWorkflow: TidewayApi['describeWorkflow'] = (ns, ref) => describeWorkflow(this.ctx, ns, ref);
  getWorkflowResult: TidewayApi['getWorkflowResult'] = (ns, ref) => getWorkflowResult(this.ctx, ns, ref);
  listWorkflows: TidewayApi['listWorkflows'] = (ns, query) => listWorkflows(this.ctx, ns, query);
  getWorkflowHistory: TidewayApi['getWorkflowHistory'] = (ns, query) => getWorkflowHistory(this.ctx, ns, query);
  pollWorkflowTask: TidewayApi['pollWorkflowTask'] = (ns, request, signal) =>
    pollWorkflowTask(this.ctx, this.pollers, ns, request, signal);
  completeWorkflowTask: TidewayApi['completeWorkflowTask'] = (ns, request) =>
    completeWorkflowTask(this.ctx, ns, request);
  failWorkflowTask: TidewayApi['failWorkflowTask'] = (ns, request) => failWorkflowTask(this.ctx, ns, request);
  pollActivityTask: TidewayApi['pollActivityTask'] = (ns, request, signal) =>
    pollActivityTask(this.ctx, this.pollers, ns, request, signal);
  completeActivityTask: TidewayApi['completeActivityTask'] = (ns, request) =>
    completeActivityTask(this.ctx, ns, request);
  failActivityTask: TidewayApi['failActivityTask'] = (ns, request) => failActivityTask(this.ctx, ns, request);
  heartbeatActivityTask: TidewayApi['heartbeatActivityTask'] = (ns, request) =>
    heartbeatActivityTask(this.ctx, ns, request);
}
