// The server: HTTP routes (validated by the protocol's schemas), auth,
// long-poll and the OpenAPI document, over the engine. Stateless: run as
// many replicas as you like on one PostgreSQL.
export { type AppOptions, createApp, openApiInfo } from './app.js';
export { openApiDocument } from './openapi.js';
export { DEFAULT_PORT, type RunningServer, type ServerOptions, startServer } from './server.js';
