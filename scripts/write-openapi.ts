// Regenerates docs/openapi.json from the protocol schemas: `npm run openapi`.
// test/openapi.test.ts fails when the committed file is out of date.
import { mkdirSync, writeFileSync } from 'node:fs';
import { Engine } from '../src/engine/index.js';
import { openApiDocument } from '../src/server/index.js';

const engine = await Engine.open({ inMemory: true, timers: false });
try {
  mkdirSync('docs', { recursive: true });
  writeFileSync('docs/openapi.json', `${JSON.stringify(openApiDocument(engine), null, 2)}\n`);
  console.log('wrote docs/openapi.json');
} finally {
  await engine.close();
}
