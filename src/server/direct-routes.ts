import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from '@hono/zod-openapi';
import type { Engine } from '../engine/index.js';
import { describeIssues, markChecked } from '../engine/parse.js';
import { fastSafeParse } from '../protocol/fast-parse.js';
import { API_ROUTES, NDJSON, type SignalWorkflowRequest, TidewayApiError } from '../protocol/index.js';
import { releasedForGoneWorker, tokenMatches } from './request-checks.js';
import { routes } from './routes.js';

/*
 * The routes a running system calls all the time — starts, result waits,
 * and the worker's polls and reports — served straight from `node:http`.
 * Through the web framework's Node adapter each request became a WHATWG
 * Request, Headers and Response, which profiles of server mode put at a
 * fifth of the server's CPU. Here a request is read, checked and answered
 * exactly as the framework route would: the same token check, body limit,
 * schema (from routes.ts) and error bodies; anything else (another route, a
 * body that is not JSON by its content type) goes to the framework.
 */

/** What a route needs from a request, already checked against its schemas. */
interface Checked {
  params: Record<string, string>;
  query: Record<string, unknown>;
  body: unknown;
  signal: AbortSignal;
  /** For a route that answers in lines: sends one (see `answersInLines`). */
  emit(line: unknown): void;
}

interface DirectRoute {
  method: 'GET' | 'POST';
  /** Matches the path, capturing its parameters in order. */
  pattern: RegExp;
  names: string[];
  params: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  /** Answers with newline-delimited JSON, the lines `emit` sends, instead of the value `handle` resolves to. */
  answersInLines?: boolean;
  handle(engine: Engine, request: Checked): Promise<unknown>;
}

const OK = { ok: true as const };

type Op = keyof typeof API_ROUTES & keyof typeof routes;

/** The schemas a framework route checks, taken from its definition, so both paths check the same. */
function direct(op: Op, handle: DirectRoute['handle']): DirectRoute {
  const { method, path } = API_ROUTES[op];
  const names: string[] = [];
  const pattern = new RegExp(
    `^${path.replace(/\{(\w+)\}/g, (_, name: string) => {
      names.push(name);
      return '([^/]+)';
    })}$`,
  );
  const request = (routes[op] as { request?: DirectRequestSchemas }).request ?? {};
  return {
    method: method.toUpperCase() as 'GET' | 'POST',
    pattern,
    names,
    params: request.params as z.ZodType,
    ...(request.query ? { query: request.query } : {}),
    ...(request.body ? { body: request.body.content['application/json'].schema } : {}),
    handle,
  };
}

interface DirectRequestSchemas {
  params?: z.ZodType;
  query?: z.ZodType;
  body?: { content: { 'application/json': { schema: z.ZodType } } };
}

const body = <T>(r: Checked) => r.body as T;

/** A long-poll: a task claimed for a caller who hung up meanwhile goes back to the queue at once. */
function poll(op: 'pollWorkflowTask' | 'pollActivityTask'): DirectRoute {
  return direct(op, async (engine, r) => {
    const namespace = r.params.namespace!;
    const polled = await engine[op](namespace, body(r), r.signal);
    return (await releasedForGoneWorker(engine, namespace, polled, r.signal)) ? { task: null } : polled;
  });
}

const DIRECT_ROUTES: DirectRoute[] = [
  // Waits for results end when the client goes away (its connection closed before the answer).
  direct('startWorkflow', (engine, r) => engine.startWorkflow(r.params.namespace!, body(r), r.signal)),
  {
    ...direct('startWorkflows', (engine, r) => engine.startWorkflows(r.params.namespace!, body(r), r.emit, r.signal)),
    answersInLines: true,
  },
  direct('getWorkflowResult', (engine, r) =>
    engine.getWorkflowResult(
      r.params.namespace!,
      { workflowId: r.params.workflowId!, ...(r.query as object) },
      r.signal,
    ),
  ),
  direct('signalWorkflow', async (engine, r) => {
    await engine.signalWorkflow(r.params.namespace!, {
      workflowId: r.params.workflowId!,
      ...body<SignalWorkflowRequest>(r),
    });
    return OK;
  }),
  poll('pollWorkflowTask'),
  direct('completeWorkflowTask', (engine, r) => engine.completeWorkflowTask(r.params.namespace!, body(r))),
  direct('failWorkflowTask', async (engine, r) => {
    await engine.failWorkflowTask(r.params.namespace!, body(r));
    return OK;
  }),
  poll('pollActivityTask'),
  direct('completeActivityTask', (engine, r) => engine.completeActivityTask(r.params.namespace!, body(r))),
  direct('failActivityTask', async (engine, r) => {
    await engine.failActivityTask(r.params.namespace!, body(r));
    return OK;
  }),
  direct('heartbeatActivityTask', (engine, r) => engine.heartbeatActivityTask(r.params.namespace!, body(r))),
  direct('recordActivityEvents', (engine, r) => engine.recordActivityEvents(r.params.namespace!, body(r))),
  direct('fireTimer', (engine, r) => engine.fireTimer(r.params.namespace!, body(r))),
  direct('submitWorkerReports', (engine, r) => engine.submitWorkerReports(r.params.namespace!, body(r))),
];

export interface DirectRouteOptions {
  engine: Engine;
  token?: string | undefined;
  maxBodyBytes: number;
}

/**
 * A request listener for the direct routes: true if it took the request
 * (and will answer it), false to leave it to the framework.
 */
export function directRoutes(options: DirectRouteOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { engine, token, maxBodyBytes } = options;
  return (req, res) => {
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    const path = queryAt < 0 ? url : url.slice(0, queryAt);
    let route: DirectRoute | undefined;
    let match: RegExpExecArray | null = null;
    for (const candidate of DIRECT_ROUTES) {
      if (candidate.method !== req.method) continue;
      match = candidate.pattern.exec(path);
      if (match) {
        route = candidate;
        break;
      }
    }
    if (!route || !match) return false;
    if (route.body && !isJson(req.headers['content-type'])) return false;
    void serve(route, match, queryAt < 0 ? '' : url.slice(queryAt + 1), req, res, engine, token, maxBodyBytes);
    return true;
  };
}

function isJson(contentType: string | undefined): boolean {
  return contentType !== undefined && /^application\/([\w.+-]*\+)?json\b/i.test(contentType);
}

async function serve(
  route: DirectRoute,
  match: RegExpExecArray,
  search: string,
  req: IncomingMessage,
  res: ServerResponse,
  engine: Engine,
  token: string | undefined,
  maxBodyBytes: number,
): Promise<void> {
  // Aborted when the client goes away before its answer (a worker's poll it stopped waiting for).
  const aborted = new AbortController();
  let lines: LineWriter | undefined;
  res.once('close', () => {
    if (!res.writableFinished) aborted.abort(new Error('Client connection prematurely closed.'));
  });
  try {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBodyBytes) throw tooLarge(maxBodyBytes);
    if (token !== undefined && !tokenMatches(token, req.headers.authorization)) {
      throw new TidewayApiError(
        'Unauthorized',
        'missing or wrong bearer token: send Authorization: Bearer <token> (TIDEWAY_TOKEN)',
      );
    }
    const rawParams: Record<string, string> = {};
    route.names.forEach((name, i) => {
      rawParams[name] = decodeURIComponent(match[i + 1]!);
    });
    const params = check(route.params, rawParams) as Record<string, string>;
    const query = route.query ? (check(route.query, queryObject(search)) as Record<string, unknown>) : {};
    let body: unknown;
    if (route.body) body = check(route.body, parseJson(await readBody(req, maxBodyBytes)));
    if (route.answersInLines) {
      lines = lineWriter(res);
      await route.handle(engine, { params, query, body, signal: aborted.signal, emit: lines.write });
      lines.end();
      return;
    }
    const answer = await route.handle(engine, { params, query, body, signal: aborted.signal, emit: noLines });
    send(res, 200, JSON.stringify(answer));
  } catch (error) {
    if (lines?.started) {
      // Lines went out under a 200: the status cannot change now. The broken stream tells the client that
      // what it has no line for is unanswered (it sends those again with their request ids).
      console.error('[tideway server] unexpected error while answering in lines', error);
      res.destroy();
      return;
    }
    if (!(error instanceof TidewayApiError)) console.error('[tideway server] unexpected error', error);
    const apiError =
      error instanceof TidewayApiError
        ? error
        : new TidewayApiError('Internal', 'internal server error; see the server log');
    send(res, apiError.status, JSON.stringify(apiError.toBody()));
  }
}

/** Each line as it comes: a buffering proxy in between (nginx's default) would hold them all to the end. */
const LINE_HEADERS = { 'content-type': NDJSON, 'x-accel-buffering': 'no' };

function noLines(): void {
  throw new Error('this route answers with one JSON value, not lines');
}

interface LineWriter {
  /** A line went out, or is about to: the answer's status is 200 from now on. */
  readonly started: boolean;
  write(line: unknown): void;
  end(): void;
}

/**
 * A newline-delimited JSON answer. Lines written in the same tick (outcomes
 * settled by one transaction) leave in one write: each write is a system
 * call and wakes the reader, which costs both processes more than the line.
 */
function lineWriter(res: ServerResponse): LineWriter {
  let pending = '';
  let started = false;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (res.writableEnded || res.destroyed || !pending) return;
    if (!res.headersSent) res.writeHead(200, LINE_HEADERS);
    res.write(pending);
    pending = '';
  };
  return {
    get started() {
      return started;
    },
    write(line) {
      started = true;
      if (res.destroyed) return;
      pending += `${JSON.stringify(line)}\n`;
      if (!scheduled) {
        scheduled = true;
        process.nextTick(flush);
      }
    },
    end() {
      if (res.writableEnded || res.destroyed) return;
      if (!res.headersSent) res.writeHead(200, LINE_HEADERS);
      res.end(pending);
      pending = '';
    },
  };
}

function send(res: ServerResponse, status: number, text: string): void {
  if (res.writableEnded || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The checked value; the protocol's schemas have no asynchronous parts, so this checks synchronously. */
function check(schema: z.ZodType, value: unknown): unknown {
  const result = fastSafeParse(schema, value);
  if (!result.success) {
    throw new TidewayApiError('InvalidArgument', `invalid request: ${describeIssues(result.error.issues)}`);
  }
  // The engine's methods check their request with the same schema: this one is done.
  markChecked(schema, result.data);
  return result.data;
}

/** A query string as the framework reads it: the first value of each name. */
function queryObject(search: string): Record<string, string> {
  const query: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(search)) if (!(name in query)) query[name] = value;
  return query;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new TidewayApiError(
      'InvalidArgument',
      'request body is not valid JSON; send a JSON object with content-type application/json',
    );
  }
}

function tooLarge(maxBodyBytes: number): TidewayApiError {
  return new TidewayApiError(
    'PayloadTooLarge',
    `request body is over the ${maxBodyBytes}-byte limit; send smaller payloads`,
  );
}

/** The whole body, refused once it passes the limit (a body sent without a length is counted as it comes). */
function readBody(req: IncomingMessage, maxBodyBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        req.removeAllListeners('data');
        req.resume();
        reject(tooLarge(maxBodyBytes));
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
}
