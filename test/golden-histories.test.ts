import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { HistoryEvent } from '../src/protocol/index.js';
import { replayHistory } from '../src/testing/index.js';
import { NonDeterminismError, proxyActivities } from '../src/workflow/index.js';
import * as workflows from './fixtures/histories/workflows.js';
import { BACKEND } from './support/backend.js';
import { createTideway } from './support/env.js';

/**
 * Golden histories: recorded from real runs, committed, and replayed forever.
 * A change to the engine or runtime that would break workflows in flight
 * fails here. Re-record (only for new workflows) with TIDEWAY_RECORD_HISTORIES=1.
 */
const DIR = 'test/fixtures/histories';

const recordedWorkflows = { orderFlow: workflows.orderFlow, failingFlow: workflows.failingFlow };

interface Recorded {
  workflowType: keyof typeof recordedWorkflows;
  workflowId: string;
  runId: string;
  events: HistoryEvent[];
}

describe.skipIf(BACKEND !== 'pglite')('golden histories', () => {
  test.runIf(process.env.TIDEWAY_RECORD_HISTORIES === '1')('record', async () => {
    const t = await createTideway('in-process');
    try {
      await t.startWorker({ taskQueue: 'golden', workflows, activities: workflows.activities });
      const runs: [keyof typeof recordedWorkflows, unknown[]][] = [
        ['orderFlow', ['order-7', 42]],
        ['failingFlow', []],
      ];
      mkdirSync(DIR, { recursive: true });
      for (const [workflowType, args] of runs) {
        const handle = await t.client.workflow.start(workflowType, {
          id: `golden-${workflowType}`,
          taskQueue: 'golden',
          args,
        });
        await handle.result();
        // Stacks name the recording machine's paths; replay does not need them.
        const events = JSON.parse(
          JSON.stringify(await handle.fetchHistory(), (key, value) => (key === 'stack' ? undefined : value)),
        );
        const recorded: Recorded = { workflowType, workflowId: handle.workflowId, runId: handle.runId!, events };
        writeFileSync(join(DIR, `${workflowType}.json`), `${JSON.stringify(recorded, null, 2)}\n`);
      }
    } finally {
      await t.teardown();
    }
  });

  const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));
  test('there are recorded histories to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(2);
  });

  test.each(files)('%s replays without non-determinism', async (file) => {
    const recorded = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Recorded;
    await replayHistory(recordedWorkflows[recorded.workflowType], recorded.events, recorded);
  });

  test('a history replayed by changed code is caught', async () => {
    const recorded = JSON.parse(readFileSync(join(DIR, 'orderFlow.json'), 'utf8')) as Recorded;
    await expect(replayHistory(changedOrderFlow, recorded.events, recorded)).rejects.toBeInstanceOf(
      NonDeterminismError,
    );
  });
});

/** orderFlow after an incompatible edit: it ships before charging. */
async function changedOrderFlow(order: string): Promise<unknown> {
  const { ship } = proxyActivities<typeof workflows.activities>({ startToCloseTimeout: '10s' });
  return [await ship(order)];
}
