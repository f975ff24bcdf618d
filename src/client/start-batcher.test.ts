import { describe, expect, test } from 'vitest';
import {
  MAX_STARTS_PER_REQUEST,
  type StartOutcome,
  type StartWorkflowRequest,
  TidewayApiError,
} from '../protocol/index.js';
import { StartBatcher, type StartSender } from './start-batcher.js';

/** A server the test answers by hand: every request waits until the test settles it. */
function scriptedServer() {
  const requests: {
    starts: StartWorkflowRequest[];
    /** For a shared request: sends one line of its answer. */
    line(outcome: StartOutcome): void;
    answer(value?: unknown): void;
    fail(error: unknown): void;
  }[] = [];
  const sender: StartSender = {
    one: (_ns, request) =>
      new Promise((answer, fail) => {
        requests.push({ starts: [request], line: () => {}, answer: answer as (value?: unknown) => void, fail });
      }),
    many: (_ns, json, onOutcome) =>
      new Promise<void>((answer, fail) => {
        const { starts } = JSON.parse(json) as { starts: StartWorkflowRequest[] };
        requests.push({ starts, line: onOutcome, answer: answer as (value?: unknown) => void, fail });
      }),
  };
  return { sender, requests };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const start = (workflowId: string, extra: Partial<StartWorkflowRequest> = {}): StartWorkflowRequest => ({
  workflowId,
  workflowType: 'w',
  taskQueue: 'q',
  requestId: `r-${workflowId}`,
  ...extra,
});
const started = (workflowId: string) => ({ workflowId, runId: `run-${workflowId}`, started: true });

describe('StartBatcher', () => {
  test('a start made alone goes alone, to the single route', async () => {
    const { sender, requests } = scriptedServer();
    const batcher = new StartBatcher(sender, { maxBatchBytes: 1 << 20 });
    const done = batcher.submit('ns', start('a'));
    await tick();
    expect(requests).toHaveLength(1);
    requests[0]!.answer(started('a'));
    await expect(done).resolves.toEqual(started('a'));
  });

  test('starts of one tick share a request, each settling with its own line as it comes, in any order', async () => {
    const { sender, requests } = scriptedServer();
    const batcher = new StartBatcher(sender, { maxBatchBytes: 1 << 20 });
    const settled: string[] = [];
    const all = ['a', 'b', 'c'].map((id) =>
      batcher.submit('ns', start(id)).then(
        (response) => settled.push(`ok ${response.workflowId}`),
        (error: TidewayApiError) => settled.push(`${error.code} ${id}`),
      ),
    );
    await tick();
    expect(requests).toHaveLength(1);
    expect(requests[0]!.starts.map((s) => s.workflowId)).toEqual(['a', 'b', 'c']);
    requests[0]!.line({ index: 2, ok: true, response: started('c') });
    await tick();
    expect(settled).toEqual(['ok c']);
    requests[0]!.line({
      index: 0,
      ok: false,
      status: 409,
      error: { code: 'WorkflowAlreadyStarted', message: 'taken' },
    });
    requests[0]!.line({ index: 1, ok: true, response: started('b') });
    requests[0]!.answer();
    await Promise.all(all);
    expect(settled).toEqual(['ok c', 'WorkflowAlreadyStarted a', 'ok b']);
  });

  test('a request carries at most its count of starts', async () => {
    const { sender, requests } = scriptedServer();
    const batcher = new StartBatcher(sender, { maxBatchBytes: 1 << 30 });
    for (let i = 0; i < 2 * MAX_STARTS_PER_REQUEST + 2; i++) void batcher.submit('ns', start(`s${i}`));
    await tick();
    expect(requests.map((r) => r.starts.length)).toEqual([MAX_STARTS_PER_REQUEST, MAX_STARTS_PER_REQUEST, 2]);
    expect(requests.flatMap((r) => r.starts.map((s) => s.workflowId))).toEqual(
      Array.from({ length: 2 * MAX_STARTS_PER_REQUEST + 2 }, (_, i) => `s${i}`),
    );
  });

  test('a request stays within its size; a start over half of it goes alone', async () => {
    const { sender, requests } = scriptedServer();
    const batcher = new StartBatcher(sender, { maxBatchBytes: 4000 });
    for (let i = 0; i < 200; i++) void batcher.submit('ns', start(`s${i}`));
    void batcher.submit('ns', start('big', { memo: { text: 'x'.repeat(2500) } } as never));
    await tick();
    const big = requests.filter((r) => r.starts.some((s) => s.workflowId === 'big'));
    expect(big).toHaveLength(1);
    expect(big[0]!.starts).toHaveLength(1);
    const shared = requests.filter((r) => r !== big[0]);
    expect(shared.reduce((sum, r) => sum + r.starts.length, 0)).toBe(200);
    expect(shared.length).toBeGreaterThan(1);
    for (const request of shared) {
      expect(JSON.stringify({ starts: request.starts }).length).toBeLessThanOrEqual(4000);
    }
  });

  test('starts the answer ended without are refused as unavailable, so they are sent again', async () => {
    const { sender, requests } = scriptedServer();
    const batcher = new StartBatcher(sender, { maxBatchBytes: 1 << 20 });
    const [a, b] = [batcher.submit('ns', start('a')), batcher.submit('ns', start('b'))];
    await tick();
    requests[0]!.line({ index: 0, ok: true, response: started('a') });
    requests[0]!.answer();
    await expect(a).resolves.toEqual(started('a'));
    await expect(b).rejects.toMatchObject({ code: 'Unavailable', message: /"b".*same request id/ });
  });

  test('a broken answer refuses only the starts it had not answered, with its error', async () => {
    const { sender, requests } = scriptedServer();
    const batcher = new StartBatcher(sender, { maxBatchBytes: 1 << 20 });
    const [a, b] = [batcher.submit('ns', start('a')), batcher.submit('ns', start('b'))];
    await tick();
    requests[0]!.line({ index: 1, ok: true, response: started('b') });
    requests[0]!.fail(new TidewayApiError('Unavailable', 'connection reset'));
    await expect(b).resolves.toEqual(started('b'));
    await expect(a).rejects.toMatchObject({ code: 'Unavailable', message: 'connection reset' });
  });

  test('refused as too large, each start goes alone; refused as unknown, every start from then on', async () => {
    const { sender, requests } = scriptedServer();
    const batcher = new StartBatcher(sender, { maxBatchBytes: 1 << 20 });
    const large = [batcher.submit('ns', start('a')), batcher.submit('ns', start('b'))];
    await tick();
    requests[0]!.fail(new TidewayApiError('PayloadTooLarge', 'too big'));
    await tick();
    expect(requests.slice(1).map((r) => r.starts.map((s) => s.workflowId))).toEqual([['a'], ['b']]);
    requests[1]!.answer(started('a'));
    requests[2]!.answer(started('b'));
    await expect(Promise.all(large)).resolves.toEqual([started('a'), started('b')]);

    const unknown = [batcher.submit('ns', start('c')), batcher.submit('ns', start('d'))];
    await tick();
    requests[3]!.fail(new TidewayApiError('NotFound', 'no route'));
    await tick();
    expect(requests).toHaveLength(6);
    void batcher.submit('ns', start('e'));
    void batcher.submit('ns', start('f'));
    await tick();
    expect(requests.slice(4).map((r) => r.starts.length)).toEqual([1, 1, 1, 1]);
    requests[4]!.answer(started('c'));
    requests[5]!.answer(started('d'));
    await expect(Promise.all(unknown)).resolves.toEqual([started('c'), started('d')]);
  });
});
