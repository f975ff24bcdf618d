import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TidewayApiError } from '../src/client/index.js';
import { condition, defineQuery, defineSignal, setHandler } from '../src/workflow/index.js';
import { skipBackend } from './support/backend.js';
import { createTideway, type TestTideway, TRANSPORTS } from './support/env.js';
import { waitFor } from './support/wait.js';

const approve = defineSignal<[by: string]>('approve');
const status = defineQuery<{ approved: boolean; by?: string }>('status');
const echo = defineQuery<string, [text: string]>('echo');
const broken = defineQuery<never>('broken');

async function approvalWithQueries(): Promise<string> {
  let approvedBy: string | undefined;
  setHandler(approve, (by) => {
    approvedBy = by;
  });
  setHandler(status, () => ({ approved: approvedBy !== undefined, ...(approvedBy ? { by: approvedBy } : {}) }));
  setHandler(echo, (text) => `echo: ${text}`);
  setHandler(broken, () => {
    throw new Error('the handler broke');
  });
  await condition(() => approvedBy !== undefined);
  return `approved by ${approvedBy}`;
}

describe.each(TRANSPORTS)('queries over %s', (transport) => {
  let t: TestTideway;
  let skip = false;
  const taskQueue = 'queries';

  beforeAll(async () => {
    skip = await skipBackend();
    if (skip) return;
    t = await createTideway(transport);
    await t.startWorker({ taskQueue, workflows: { approvalWithQueries } });
  });
  afterAll(async () => {
    await t?.teardown();
  });

  test('a query reads the current state and writes no history', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(approvalWithQueries, { id: 'q-1', taskQueue });
    await waitFor(async () => (await handle.describe()).historyLength >= 3, { what: 'the first workflow task' });
    const before = (await handle.describe()).historyLength;
    expect(await handle.query(status)).toEqual({ approved: false });
    expect(await handle.query(echo, 'hi')).toBe('echo: hi');
    expect(await handle.query<string, [string]>('echo', 'by name')).toBe('echo: by name');
    expect((await handle.describe()).historyLength).toBe(before);

    await handle.signal(approve, 'dee');
    expect(await handle.result()).toBe('approved by dee');
    // Closed runs answer too, by replay.
    expect(await handle.query(status)).toEqual({ approved: true, by: 'dee' });
  });

  test('an unknown query name and a throwing handler give clear errors', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(approvalWithQueries, { id: 'q-2', taskQueue });
    const unknown = (await handle.query('nope').catch((e: unknown) => e)) as TidewayApiError;
    expect(unknown).toBeInstanceOf(TidewayApiError);
    expect(unknown.code).toBe('QueryFailed');
    expect(unknown.message).toMatch(/no handler for query "nope".*broken, echo, status/);
    const failed = (await handle.query(broken).catch((e: unknown) => e)) as TidewayApiError;
    expect(failed.code).toBe('QueryFailed');
    expect(failed.message).toContain('the handler broke');
    await handle.terminate('done testing');
  });

  test('a query with no worker polling fails at once, saying so', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start('approvalWithQueries', { id: 'q-3', taskQueue: 'nobody-polls-here' });
    const began = Date.now();
    const error = (await handle.query(status).catch((e: unknown) => e)) as TidewayApiError;
    expect(error.code).toBe('Unavailable');
    expect(error.message).toMatch(/no worker is polling task queue "nobody-polls-here"/);
    expect(Date.now() - began).toBeLessThan(2000);
  });
});
