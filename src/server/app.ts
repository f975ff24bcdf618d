import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { Engine } from '../engine/index.js';
import { describeIssues } from '../engine/parse.js';
import { NDJSON, SERVER_VERSION, TidewayApiError } from '../protocol/index.js';
import { releasedForGoneWorker, tokenMatches } from './request-checks.js';
import { routes } from './routes.js';
import { registerTaskEventStream } from './task-event-stream.js';

export interface AppOptions {
  engine: Engine;
  /** When set, every /api request must carry `Authorization: Bearer <token>`. */
  token?: string | undefined;
  /** Largest request body accepted, in bytes (default: 4 × the engine's payload limit). */
  maxBodyBytes?: number;
}

/** Largest request body accepted unless told otherwise: room for a few payloads at the limit. */
export function defaultMaxBodyBytes(engine: Engine): number {
  return 4 * engine.ctx.maxPayloadBytes + 64 * 1024;
}

function errorResponse(c: Context, error: TidewayApiError) {
  return c.json(error.toBody(), error.status as 400);
}

/**
 * The HTTP API: every engine operation as a validated JSON route, plus
 * /healthz and the OpenAPI document. Holds no state; any replica serves any request.
 */
export function createApp(options: AppOptions): OpenAPIHono {
  const { engine } = options;
  const app = new OpenAPIHono({
    defaultHook: (result, c) => {
      if (!result.success) {
        return errorResponse(
          c,
          new TidewayApiError('InvalidArgument', `invalid request: ${describeIssues(result.error.issues)}`),
        );
      }
    },
  });

  app.onError((error, c) => {
    if (error instanceof TidewayApiError) return errorResponse(c, error);
    if (error instanceof HTTPException) {
      const code = error.status === 413 ? 'PayloadTooLarge' : error.status === 401 ? 'Unauthorized' : 'InvalidArgument';
      const message = /malformed json/i.test(error.message)
        ? 'request body is not valid JSON; send a JSON object with content-type application/json'
        : error.message || 'bad request';
      return errorResponse(c, new TidewayApiError(code, message));
    }
    console.error('[tideway server] unexpected error', error);
    return errorResponse(c, new TidewayApiError('Internal', 'internal server error; see the server log'));
  });
  app.notFound((c) =>
    errorResponse(
      c,
      new TidewayApiError('NotFound', `no route ${c.req.method} ${c.req.path}; see /api/v1/openapi.json`),
    ),
  );

  app.get('/healthz', async (c) => {
    await engine.db.query('SELECT 1');
    return c.json({ status: 'ok', version: SERVER_VERSION });
  });

  const maxBodyBytes = options.maxBodyBytes ?? defaultMaxBodyBytes(engine);
  app.use(
    '/api/*',
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: (c) =>
        errorResponse(
          c,
          new TidewayApiError(
            'PayloadTooLarge',
            `request body is over the ${maxBodyBytes}-byte limit; send smaller payloads`,
          ),
        ),
    }),
  );
  if (options.token) app.use('/api/*', requireToken(options.token));

  app.openapi(routes.clusterInfo, async (c) => c.json(await engine.clusterInfo(), 200));
  app.openapi(routes.startWorkflow, async (c) =>
    c.json(await engine.startWorkflow(c.req.valid('param').namespace, c.req.valid('json'), c.req.raw.signal), 200),
  );
  // The direct route (direct-routes.ts) streams the lines as each start settles; this one, reached only by
  // requests the direct route leaves to the framework, answers them all at the end.
  app.openapi(routes.startWorkflows, async (c) => {
    let lines = '';
    await engine.startWorkflows(
      c.req.valid('param').namespace,
      c.req.valid('json'),
      (outcome) => {
        lines += `${JSON.stringify(outcome)}\n`;
      },
      c.req.raw.signal,
    );
    return c.body(lines, 200, { 'content-type': NDJSON }) as never;
  });
  app.openapi(routes.listWorkflows, async (c) =>
    c.json(await engine.listWorkflows(c.req.valid('param').namespace, c.req.valid('query')), 200),
  );
  app.openapi(routes.describeWorkflow, async (c) => {
    const { namespace, workflowId } = c.req.valid('param');
    return c.json(await engine.describeWorkflow(namespace, { workflowId, ...c.req.valid('query') }), 200);
  });
  app.openapi(routes.getWorkflowResult, async (c) => {
    const { namespace, workflowId } = c.req.valid('param');
    return c.json(
      await engine.getWorkflowResult(namespace, { workflowId, ...c.req.valid('query') }, c.req.raw.signal),
      200,
    );
  });
  app.openapi(routes.getWorkflowHistory, async (c) => {
    const { namespace, workflowId } = c.req.valid('param');
    return c.json((await engine.getWorkflowHistory(namespace, { workflowId, ...c.req.valid('query') })) as never, 200);
  });
  app.openapi(routes.signalWorkflow, async (c) => {
    const { namespace, workflowId } = c.req.valid('param');
    await engine.signalWorkflow(namespace, { workflowId, ...c.req.valid('json') });
    return c.json({ ok: true as const }, 200);
  });
  app.openapi(routes.signalWithStart, async (c) =>
    c.json(await engine.signalWithStart(c.req.valid('param').namespace, c.req.valid('json')), 200),
  );
  app.openapi(routes.cancelWorkflow, async (c) => {
    const { namespace, workflowId } = c.req.valid('param');
    await engine.cancelWorkflow(namespace, { workflowId, ...c.req.valid('json') });
    return c.json({ ok: true as const }, 200);
  });
  app.openapi(routes.terminateWorkflow, async (c) => {
    const { namespace, workflowId } = c.req.valid('param');
    await engine.terminateWorkflow(namespace, { workflowId, ...c.req.valid('json') });
    return c.json({ ok: true as const }, 200);
  });
  app.openapi(routes.resetWorkflow, async (c) => {
    const { namespace, workflowId } = c.req.valid('param');
    return c.json(await engine.resetWorkflow(namespace, { workflowId, ...c.req.valid('json') }), 200);
  });
  app.openapi(routes.bulkWorkflowOperation, async (c) =>
    c.json(await engine.bulkWorkflowOperation(c.req.valid('param').namespace, c.req.valid('json')), 200),
  );
  app.openapi(routes.queryWorkflow, async (c) => {
    const { namespace, workflowId } = c.req.valid('param');
    return c.json(await engine.queryWorkflow(namespace, { workflowId, ...c.req.valid('json') }), 200);
  });
  app.openapi(routes.updateWorkflow, async (c) => {
    const { namespace, workflowId } = c.req.valid('param');
    return c.json(await engine.updateWorkflow(namespace, { workflowId, ...c.req.valid('json') }), 200);
  });
  app.openapi(routes.respondQueryTask, async (c) => {
    await engine.respondQueryTask(c.req.valid('param').namespace, c.req.valid('json'));
    return c.json({ ok: true as const }, 200);
  });
  app.openapi(routes.pollWorkflowTask, async (c) => {
    const namespace = c.req.valid('param').namespace;
    const polled = await engine.pollWorkflowTask(namespace, c.req.valid('json'), c.req.raw.signal);
    if (await releasedForGoneWorker(engine, namespace, polled, c.req.raw.signal)) return c.json({ task: null }, 200);
    return c.json(polled as never, 200);
  });
  app.openapi(routes.completeWorkflowTask, async (c) =>
    c.json(await engine.completeWorkflowTask(c.req.valid('param').namespace, c.req.valid('json')), 200),
  );
  app.openapi(routes.failWorkflowTask, async (c) => {
    await engine.failWorkflowTask(c.req.valid('param').namespace, c.req.valid('json'));
    return c.json({ ok: true as const }, 200);
  });
  app.openapi(routes.pollActivityTask, async (c) => {
    const namespace = c.req.valid('param').namespace;
    const polled = await engine.pollActivityTask(namespace, c.req.valid('json'), c.req.raw.signal);
    if (await releasedForGoneWorker(engine, namespace, polled, c.req.raw.signal)) return c.json({ task: null }, 200);
    return c.json(polled as never, 200);
  });
  app.openapi(routes.completeActivityTask, async (c) =>
    c.json((await engine.completeActivityTask(c.req.valid('param').namespace, c.req.valid('json'))) as never, 200),
  );
  app.openapi(routes.failActivityTask, async (c) => {
    await engine.failActivityTask(c.req.valid('param').namespace, c.req.valid('json'));
    return c.json({ ok: true as const }, 200);
  });
  app.openapi(routes.heartbeatActivityTask, async (c) =>
    c.json(await engine.heartbeatActivityTask(c.req.valid('param').namespace, c.req.valid('json')), 200),
  );
  app.openapi(routes.recordActivityEvents, async (c) =>
    c.json(await engine.recordActivityEvents(c.req.valid('param').namespace, c.req.valid('json')), 200),
  );
  app.openapi(routes.fireTimer, async (c) =>
    c.json((await engine.fireTimer(c.req.valid('param').namespace, c.req.valid('json'))) as never, 200),
  );
  app.openapi(routes.submitWorkerReports, async (c) =>
    c.json((await engine.submitWorkerReports(c.req.valid('param').namespace, c.req.valid('json'))) as never, 200),
  );
  app.openapi(routes.listTaskEvents, async (c) => {
    const { namespace, workflowId } = c.req.valid('param');
    const page = await engine.listTaskEvents(namespace, { workflowId, ...c.req.valid('query') }, c.req.raw.signal);
    return c.json(page as never, 200);
  });
  registerTaskEventStream(app, engine);

  app.doc31('/api/v1/openapi.json', openApiInfo);
  return app;
}

export const openApiInfo = {
  openapi: '3.1.0',
  info: {
    title: 'Tideway API',
    version: SERVER_VERSION,
    description:
      'Durable workflows over HTTP/JSON. Control plane (start, describe, result, list, history) and worker plane ' +
      '(long-poll tasks, complete, fail, heartbeat). Payloads are {encoding, data} envelopes; times are ms since the epoch.',
  },
};

function requireToken(expected: string) {
  return async (c: Context, next: () => Promise<void>) => {
    if (!tokenMatches(expected, c.req.header('authorization'))) {
      return errorResponse(
        c,
        new TidewayApiError(
          'Unauthorized',
          'missing or wrong bearer token: send Authorization: Bearer <token> (TIDEWAY_TOKEN)',
        ),
      );
    }
    await next();
  };
}
