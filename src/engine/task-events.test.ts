import { describe, expect, test } from 'vitest';
import type { NewTaskEvent, Queryable } from '../store/index.js';
import { discardTaskEvents, flushTaskEvents, queueTaskEvent } from './task-events.js';

/** A transaction that records the events each append statement would store. */
function recordingTx(): Queryable & { appended: { runId: string; close: boolean; events: NewTaskEvent[] }[] } {
  const appended: { runId: string; close: boolean; events: NewTaskEvent[] }[] = [];
  return {
    appended,
    async query<T>(_sql: string, params: readonly unknown[] = []) {
      const events = JSON.parse(params[5] as string) as NewTaskEvent[];
      appended.push({ runId: params[1] as string, close: params[3] as boolean, events });
      return events.map((_, i) => ({ seq: i + 1 })) as T[];
    },
    async exec() {},
  };
}

const run = { namespace: 'default', runId: 'r1', workflowId: 'w1' };
const now = 1_000_000;

describe('queued task events', () => {
  test("the run's closing event is the last one written, whatever the transition queues after it", async () => {
    const tx = recordingTx();
    queueTaskEvent(tx, run, { source: 'workflow', kind: 'completed' }, { now });
    queueTaskEvent(tx, run, { source: 'run', kind: 'closed' }, { now, close: true });
    queueTaskEvent(tx, run, { source: 'activity', kind: 'stdout', message: 'late' }, { now });
    const woken: string[] = [];
    await flushTaskEvents(tx, now, (key) => woken.push(key));
    expect(tx.appended).toHaveLength(1);
    expect(tx.appended[0]!.close).toBe(true);
    expect(tx.appended[0]!.events.map((e) => e.kind)).toEqual(['completed', 'closed']);
    expect(woken).toEqual(['e:default:r1']);
  });

  test('an event is never dated after the server took it; data JSON cannot carry is summarised', async () => {
    const tx = recordingTx();
    queueTaskEvent(tx, run, { source: 'activity', kind: 'stdout', message: 'a', time: now + 86_400_000 }, { now });
    queueTaskEvent(tx, run, { source: 'activity', kind: 'stdout', message: 'b', time: now - 5 }, { now });
    queueTaskEvent(tx, run, { source: 'activity', kind: 'milestone', data: { n: BigInt(1) } }, { now });
    await flushTaskEvents(tx, now, () => {});
    const [a, b, m] = tx.appended[0]!.events;
    expect([a!.time, b!.time]).toEqual([now, now - 5]);
    expect(m!.data).toEqual({ omitted: 'not encodable as JSON' });
  });

  test('events of a transition that rolled back are forgotten', async () => {
    const tx = recordingTx();
    queueTaskEvent(tx, run, { source: 'workflow', kind: 'started' }, { now });
    discardTaskEvents(tx);
    await flushTaskEvents(tx, now, () => {});
    expect(tx.appended).toEqual([]);
  });
});
