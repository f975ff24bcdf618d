// Server mode, the server: a Tideway server on the session's PostgreSQL
// database. Counts the SQL it sends and reports it when told to stop.
// Env: BENCH_DATABASE_URL.
import { startServer } from '../../src/server/index.js';
import { report } from '../support/child-script.js';
import { installSqlCounter, sqlCounts } from '../support/sql-counter.js';

installSqlCounter();
const databaseUrl = process.env.BENCH_DATABASE_URL;
if (!databaseUrl) throw new Error('BENCH_DATABASE_URL is required');
const server = await startServer({ port: 0, databaseUrl });
report('READY', { url: server.url });

process.once('SIGTERM', () => {
  void (async () => {
    await server.close();
    report('COUNTS', sqlCounts(new URL(databaseUrl).pathname.slice(1)));
    process.exit(0);
  })();
});
