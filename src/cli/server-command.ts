import { createServer } from 'node:net';
import { type Command, Option } from 'commander';
import pc from 'picocolors';
import { DEFAULT_PORT } from '../protocol/index.js';
import type { RunningServer } from '../server/index.js';
import { integerOption, print } from './common.js';
import { CliError } from './errors.js';

interface ServerCommandOptions {
  port: number;
  host: string;
  databaseUrl?: string;
  dataDir: string;
  token?: string;
  maxPayloadBytes?: number;
  json: boolean;
}

/** How long a graceful shutdown may take before the process gives up waiting and exits anyway. */
const SHUTDOWN_TIMEOUT_MS = 15_000;

/** Registers `tideway server`: runs the HTTP server on PostgreSQL, or on embedded PGlite by default. */
export function registerServerCommand(program: Command): void {
  program
    .command('server')
    .description('run a Tideway server (embedded PGlite store unless --database-url / DATABASE_URL is set)')
    .addOption(
      new Option('--port <port>', 'port to listen on (0 picks a free one)')
        .env('TIDEWAY_PORT')
        .default(DEFAULT_PORT)
        .argParser(integerOption('--port', 0, 65_535)),
    )
    .option('--host <host>', 'interface to listen on (0.0.0.0 for every interface)', '127.0.0.1')
    .addOption(new Option('--database-url <url>', 'PostgreSQL connection URL').env('DATABASE_URL'))
    .addOption(
      new Option('--data-dir <dir>', 'PGlite data directory, when no database URL is given')
        .env('TIDEWAY_DATA_DIR')
        .default('.tideway/data'),
    )
    .addOption(new Option('--token <token>', 'require this bearer token on every API request').env('TIDEWAY_TOKEN'))
    .addOption(
      new Option('--max-payload-bytes <bytes>', 'largest payload accepted (default 2 MB)').argParser(
        integerOption('--max-payload-bytes', 1),
      ),
    )
    .option('--json', 'print where the server listens as one JSON line', false)
    .action(runServer);
}

async function runServer(options: ServerCommandOptions): Promise<void> {
  // Checked before the store opens: a taken port is the common mistake, and
  // opening a PGlite directory another server is using must not happen.
  if (options.port !== 0) await assertPortFree(options.host, options.port);
  const store = options.databaseUrl
    ? `PostgreSQL ${maskPassword(options.databaseUrl)}`
    : `PGlite in ${options.dataDir}`;
  // Loaded here, not with the CLI: every other command is a client and starts faster without the engine.
  const { startServer } = await import('../server/index.js');
  let server: RunningServer;
  try {
    server = await startServer({
      port: options.port,
      host: options.host,
      token: options.token,
      ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : { dataDir: options.dataDir }),
      ...(options.maxPayloadBytes ? { maxPayloadBytes: options.maxPayloadBytes } : {}),
    });
  } catch (error) {
    throw listenError(error, options) ?? new CliError(`cannot open the store (${store}): ${(error as Error).message}`);
  }
  if (options.json) {
    // One line, so a supervising script can read it with a line reader.
    print(
      JSON.stringify({
        url: server.url,
        port: server.port,
        store: options.databaseUrl ? 'postgres' : 'pglite',
        ...(options.databaseUrl ? { databaseUrl: maskPassword(options.databaseUrl) } : { dataDir: options.dataDir }),
        auth: Boolean(options.token),
      }),
    );
  } else {
    const auth = options.token ? ', token required' : '';
    print(`Tideway server listening on ${pc.bold(server.url)} (store: ${store}${auth}); press Ctrl-C to stop`);
  }
  closeOnSignals(server);
}

/** On the first SIGINT/SIGTERM: finish in-flight requests, close the store, exit 0. Later signals are ignored. */
function closeOnSignals(server: RunningServer): void {
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    process.stderr.write(`${signal} received: stopping the server\n`);
    const giveUp = setTimeout(() => {
      process.stderr.write(`${pc.red('error: the server did not stop within 15s; exiting anyway')}\n`);
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    giveUp.unref();
    server.close().then(
      () => {
        process.stderr.write('server stopped\n');
        process.exit(0);
      },
      (error: unknown) => {
        process.stderr.write(`${pc.red(`error: closing the server failed: ${(error as Error).message}`)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** Rejects with a clear CliError when something already listens on host:port. */
function assertPortFree(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error) => reject(listenError(error, { host, port }) ?? error));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** Turns a listen failure into a message that says what to do; undefined for other errors. */
function listenError(error: unknown, { host, port }: { host: string; port: number }): CliError | undefined {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') {
    return new CliError(
      `port ${port} on ${host} is already in use (is another Tideway server running?); ` +
        'pick another port with --port <port> (or TIDEWAY_PORT)',
    );
  }
  if (code === 'EACCES') {
    return new CliError(`not allowed to listen on port ${port}; pick a port above 1023 with --port <port>`);
  }
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
    return new CliError(`cannot listen on host "${host}" (${code}); use an address of this machine with --host`);
  }
  return undefined;
}

/** A database URL safe to print: the password, if any, replaced by ****. */
export function maskPassword(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    if (url.password) url.password = '****';
    return url.toString();
  } catch {
    return databaseUrl.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1****@');
  }
}
