import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { API_ROUTES } from '../src/protocol/index.js';
import { openApiDocument } from '../src/server/index.js';
import { BACKEND } from './support/backend.js';
import { createTideway, type TestTideway } from './support/env.js';

// The wire is a named artefact: docs/openapi.json is committed and must match the code.
let t: TestTideway;
beforeAll(async () => {
  if (BACKEND === 'pglite') t = await createTideway('http');
});
afterAll(async () => {
  await t?.teardown();
});

test.skipIf(BACKEND !== 'pglite')('docs/openapi.json is up to date (regenerate with npm run openapi)', () => {
  const committed = JSON.parse(readFileSync('docs/openapi.json', 'utf8'));
  expect(openApiDocument(t.env.engine)).toEqual(committed);
});

test.skipIf(BACKEND !== 'pglite')('the served document lists every API operation', async () => {
  const response = await fetch(`${t.server!.url}/api/v1/openapi.json`);
  expect(response.status).toBe(200);
  const document = (await response.json()) as { paths: Record<string, Record<string, { operationId: string }>> };
  const operations = Object.values(document.paths).flatMap((methods) =>
    Object.values(methods).map((m) => m.operationId),
  );
  // Every JSON operation, plus the one streaming route (SSE), which is not a request/response operation.
  expect(operations.sort()).toEqual([...Object.keys(API_ROUTES), 'streamTaskEvents'].sort());
});

test.skipIf(BACKEND !== 'pglite')('cluster info reports the server and protocol versions', async () => {
  const response = await fetch(`${t.server!.url}/api/cluster/info`);
  expect(await response.json()).toMatchObject({
    serverVersion: expect.any(String),
    controlPlaneVersion: '1.2',
    workerProtocolVersion: '1.2',
    store: 'pglite',
  });
  expect((await fetch(`${t.server!.url}/healthz`)).status).toBe(200);
});
