import type { Engine } from '../engine/index.js';
import { createApp, openApiInfo } from './app.js';

/** The OpenAPI 3.1 document of the HTTP API, generated from the protocol's zod schemas. */
export function openApiDocument(engine: Engine): unknown {
  return createApp({ engine }).getOpenAPI31Document(openApiInfo);
}
