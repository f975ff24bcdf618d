import { createServer, type ServerOptions as HttpServerOptions, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Engine, type EngineOptions } from '../engine/index.js';
import { DEFAULT_PORT } from '../protocol/index.js';
import { createApp, defaultMaxBodyBytes } from './app.js';
import { directRoutes } from './direct-routes.js';

export { DEFAULT_PORT } from '../protocol/index.js';

export interface ServerOptions extends EngineOptions {
  /** Default 7233; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1: reachable only from this machine unless you choose otherwise. */
  host?: string;
  token?: string | undefined;
  /** Serve an engine opened elsewhere (tests, embedding); it is not closed with the server. */
  engine?: Engine;
}

export interface RunningServer {
  url: string;
  port: number;
  engine: Engine;
  close(): Promise<void>;
}

/** Opens the store (PGlite under ./.tideway by default), starts the engine and serves HTTP. */
export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const ownsEngine = !options.engine;
  const engine = options.engine ?? (await Engine.open(options));
  const app = createApp({ engine, token: options.token });
  // The routes every workflow calls are answered straight from node:http; the rest go to the app.
  const direct = directRoutes({ engine, token: options.token, maxBodyBytes: defaultMaxBodyBytes(engine) });
  const host = options.host ?? '127.0.0.1';
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve(
      {
        fetch: app.fetch,
        port: options.port ?? DEFAULT_PORT,
        hostname: host,
        createServer: ((serverOptions: HttpServerOptions, listener: RequestListener) =>
          createServer(serverOptions, (req, res) => {
            if (!direct(req, res)) listener(req, res);
          })) as typeof createServer,
      },
      () => resolve(s),
    );
    s.once('error', reject);
  }).catch(async (error) => {
    if (ownsEngine) await engine.close();
    throw error;
  });
  // Long-polls hold requests open for up to 2 minutes; keep idle sockets from timing them out first.
  (server as unknown as { requestTimeout: number; headersTimeout: number }).requestTimeout = 0;
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    engine,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      if (ownsEngine) await engine.close();
    },
  };
}
