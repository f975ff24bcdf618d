import { describe, expect, test } from 'vitest';
import { MAX_REPORTS_PER_REQUEST, TidewayApiError, type WorkerReportsResponse } from '../protocol/index.js';
import { ReportBatcher, type ReportSender } from './report-batcher.js';

/** A server the test answers by hand: every request waits until the test settles it. */
function scriptedServer() {
  const requests: {
    kind: string;
    json: string;
    answer(value: unknown): void;
    fail(error: unknown): void;
  }[] = [];
  const sender: ReportSender = {
    one: (_ns, kind, json) =>
      new Promise((answer, fail) => {
        requests.push({ kind, json, answer, fail });
      }),
    many: (_ns, json) =>
      new Promise<WorkerReportsResponse>((answer, fail) => {
        requests.push({ kind: 'many', json, answer: answer as (value: unknown) => void, fail });
      }),
  };
  return { sender, requests };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

/**
 * One request out of one allowed, two reports queued behind it; the first comes back, so the two leave
 * together: `requests[1]` is their shared request, `pair` their outcomes.
 */
async function pairSharingOneRequest() {
  const { sender, requests } = scriptedServer();
  const batcher = new ReportBatcher(sender, { maxInFlight: 1, maxBatchBytes: 1 << 20 });
  void batcher.submit('ns', 'fireTimer', { runId: 'first', timerId: '1' });
  await tick();
  const pair = [
    batcher.submit('ns', 'fireTimer', { runId: 'a', timerId: '1' }),
    batcher.submit('ns', 'fireTimer', { runId: 'b', timerId: '1' }),
  ];
  requests[0]!.answer({ outcome: 'gone' });
  await tick();
  return { batcher, requests, pair };
}

describe('ReportBatcher', () => {
  test('one report at a time goes alone, on its own route, with its body untouched', async () => {
    const { sender, requests } = scriptedServer();
    const batcher = new ReportBatcher(sender, { maxBatchBytes: 1 << 20 });
    const done = batcher.submit('ns', 'completeActivityTask', { taskToken: 't1', result: { a: 1 } });
    await tick();
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ kind: 'completeActivityTask', json: '{"taskToken":"t1","result":{"a":1}}' });
    requests[0]!.answer({ ok: true });
    await expect(done).resolves.toEqual({ ok: true });
  });

  test('reports made in one tick leave together', async () => {
    const { sender, requests } = scriptedServer();
    const batcher = new ReportBatcher(sender, { maxBatchBytes: 1 << 20 });
    const both = [0, 1].map((i) => batcher.submit('ns', 'fireTimer', { runId: `r${i}`, timerId: '1' }));
    await tick();
    expect(requests.map((r) => r.kind)).toEqual(['many']);
    requests[0]!.answer({
      results: [
        { ok: true, response: { outcome: 'fired' } },
        { ok: true, response: { outcome: 'gone' } },
      ],
    });
    await expect(Promise.all(both)).resolves.toEqual([{ outcome: 'fired' }, { outcome: 'gone' }]);
  });

  test('reports made while the requests in flight are full leave together when one comes back', async () => {
    const { sender, requests } = scriptedServer();
    const batcher = new ReportBatcher(sender, { maxInFlight: 2, maxBatchBytes: 1 << 20 });
    const first: Promise<unknown>[] = [];
    for (const i of [0, 1]) {
      first.push(batcher.submit('ns', 'completeActivityTask', { taskToken: `a${i}`, result: null }));
      await tick();
    }
    // One report at a time, two requests allowed out: each went alone.
    expect(requests.map((r) => r.kind)).toEqual(['completeActivityTask', 'completeActivityTask']);
    const queued = [2, 3, 4].map((i) => batcher.submit('ns', 'completeWorkflowTask', { taskToken: `t${i}` }));
    await tick();
    expect(requests).toHaveLength(2);
    requests[0]!.answer({ ok: true });
    await tick();
    expect(requests).toHaveLength(3);
    const shared = requests[2]!;
    expect(shared.kind).toBe('many');
    expect(JSON.parse(shared.json)).toEqual({
      reports: [2, 3, 4].map((i) => ({ kind: 'completeWorkflowTask', request: { taskToken: `t${i}` } })),
    });
    shared.answer({
      results: [
        { ok: true, response: { ok: true, activityTasks: [] } },
        { ok: false, status: 404, error: { code: 'NotFound', message: 'no such task' } },
        { ok: true, response: { ok: true } },
      ],
    });
    await expect(queued[0]).resolves.toEqual({ ok: true, activityTasks: [] });
    await expect(queued[1]).rejects.toMatchObject({ code: 'NotFound', message: 'no such task' });
    await expect(queued[2]).resolves.toEqual({ ok: true });
    requests[1]!.answer({ ok: false });
    await expect(Promise.all(first)).resolves.toEqual([{ ok: true }, { ok: false }]);
  });

  test('a shared request carries at most the protocol limit of reports, and stays under the byte limit', async () => {
    const { sender, requests } = scriptedServer();
    const batcher = new ReportBatcher(sender, { maxInFlight: 1, maxBatchBytes: 4000 });
    void batcher.submit('ns', 'fireTimer', { runId: 'first', timerId: '1' });
    await tick();
    const many = Array.from({ length: 150 }, (_, i) =>
      batcher.submit('ns', 'fireTimer', { runId: `r${i}`, timerId: 'x'.repeat(i % 2 ? 10 : 300) }),
    );
    requests[0]!.answer({ outcome: 'gone' });
    for (let sent = 1; sent < 200 && requests.length === sent; sent++) {
      await tick();
      const request = requests[sent];
      if (!request) break;
      expect(request.json.length).toBeLessThanOrEqual(4000);
      if (request.kind === 'many') {
        const { reports } = JSON.parse(request.json) as { reports: unknown[] };
        expect(reports.length).toBeLessThanOrEqual(MAX_REPORTS_PER_REQUEST);
        request.answer({ results: reports.map(() => ({ ok: true, response: { outcome: 'gone' } })) });
      } else request.answer({ outcome: 'gone' });
    }
    await expect(Promise.all(many)).resolves.toHaveLength(150);
  });

  test('a report over half the byte limit goes alone at once, queueing for nothing; bytes, not characters', async () => {
    const { sender, requests } = scriptedServer();
    const batcher = new ReportBatcher(sender, { maxInFlight: 1, maxBatchBytes: 1000 });
    void batcher.submit('ns', 'fireTimer', { runId: 'small', timerId: '1' });
    await tick();
    void batcher.submit('ns', 'completeActivityTask', { taskToken: 't', result: 'y'.repeat(600) });
    // 200 characters, 600 bytes: over half the limit too.
    void batcher.submit('ns', 'failActivityTask', { taskToken: 't', failure: { message: '€'.repeat(200) } });
    expect(requests.map((r) => r.kind)).toEqual(['fireTimer', 'completeActivityTask', 'failActivityTask']);
  });

  test('a shared request the server refuses as too large, or does not know, is resent report by report', async () => {
    for (const code of ['PayloadTooLarge', 'NotFound'] as const) {
      const { batcher, requests, pair } = await pairSharingOneRequest();
      requests[1]!.fail(new TidewayApiError(code, 'refused'));
      await tick();
      // Alone, and still no more requests out than allowed: the second leaves when the first comes back.
      expect(requests.slice(2).map((r) => [r.kind, JSON.parse(r.json).runId])).toEqual([['fireTimer', 'a']]);
      requests[2]!.answer({ outcome: 'fired' });
      await tick();
      expect(requests.slice(3).map((r) => [r.kind, JSON.parse(r.json).runId])).toEqual([['fireTimer', 'b']]);
      requests[3]!.answer({ outcome: 'gone' });
      await expect(Promise.all(pair)).resolves.toEqual([{ outcome: 'fired' }, { outcome: 'gone' }]);

      // A server that does not know the shared route gets every later report alone; one refusing a size, not.
      const later = [0, 1].map((i) => batcher.submit('ns', 'fireTimer', { runId: `later-${i}`, timerId: '1' }));
      await tick();
      expect(requests.slice(4).map((r) => r.kind)).toEqual(code === 'NotFound' ? ['fireTimer', 'fireTimer'] : ['many']);
      if (code === 'NotFound') for (const r of requests.slice(4)) r.answer({ outcome: 'gone' });
      else requests[4]!.answer({ results: [0, 1].map(() => ({ ok: true, response: { outcome: 'gone' } })) });
      await expect(Promise.all(later)).resolves.toHaveLength(2);
    }
  });

  test('an answer that lacks outcomes, or has malformed ones, fails those reports and no others', async () => {
    const { sender, requests } = scriptedServer();
    const batcher = new ReportBatcher(sender, { maxBatchBytes: 1 << 20 });
    const reports = [0, 1, 2, 3].map((i) => batcher.submit('ns', 'fireTimer', { runId: `r${i}`, timerId: '1' }));
    await tick();
    requests[0]!.answer({
      results: [{ ok: true, response: { outcome: 'fired' } }, { ok: false }, { ok: false, error: null }],
    });
    const settled = await Promise.allSettled(reports);
    expect(settled[0]).toEqual({ status: 'fulfilled', value: { outcome: 'fired' } });
    for (const i of [1, 2, 3]) {
      expect(settled[i]).toMatchObject({ status: 'rejected', reason: { code: 'Internal' } });
    }
  });

  test('a report JSON cannot carry is refused with a rejection, not a throw', async () => {
    const { sender, requests } = scriptedServer();
    const batcher = new ReportBatcher(sender, { maxBatchBytes: 1 << 20 });
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const outcomes = [batcher.submit('ns', 'fireTimer', circular), batcher.submit('ns', 'fireTimer', { n: 1n })];
    await expect(outcomes[0]).rejects.toThrow(TypeError);
    await expect(outcomes[1]).rejects.toThrow(TypeError);
    await tick();
    expect(requests).toHaveLength(0);
  });

  test('a queued report leaves after the longest wait even while every request in flight hangs', async () => {
    const { sender, requests } = scriptedServer();
    const batcher = new ReportBatcher(sender, { maxInFlight: 1, maxQueueMs: 30, maxBatchBytes: 1 << 20 });
    void batcher.submit('ns', 'fireTimer', { runId: 'hangs', timerId: '1' });
    await tick();
    const queued = [0, 1].map((i) => batcher.submit('ns', 'fireTimer', { runId: `q${i}`, timerId: '1' }));
    await tick();
    expect(requests).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(requests.map((r) => r.kind)).toEqual(['fireTimer', 'many']);
    requests[1]!.answer({ results: [0, 1].map(() => ({ ok: true, response: { outcome: 'gone' } })) });
    await expect(Promise.all(queued)).resolves.toHaveLength(2);
  });

  test('a shared request that fails otherwise fails each of its reports with that error', async () => {
    const { requests, pair } = await pairSharingOneRequest();
    const unreachable = new TidewayApiError('Unavailable', 'cannot reach the server');
    requests[1]!.fail(unreachable);
    for (const report of pair) await expect(report).rejects.toBe(unreachable);
    expect(requests).toHaveLength(2);
  });

  test('namespaces do not share requests', async () => {
    const { sender, requests } = scriptedServer();
    const batcher = new ReportBatcher(sender, { maxInFlight: 1, maxBatchBytes: 1 << 20 });
    void batcher.submit('a', 'fireTimer', { runId: 'r', timerId: '1' });
    void batcher.submit('b', 'fireTimer', { runId: 'r', timerId: '1' });
    await tick();
    expect(requests.map((r) => r.kind)).toEqual(['fireTimer', 'fireTimer']);
  });

  test('timer reports travel apart: a completion never waits in a request behind a timer the server holds', async () => {
    const { sender, requests } = scriptedServer();
    const batcher = new ReportBatcher(sender, { maxInFlight: 1, maxBatchBytes: 1 << 20 });
    // Made in one tick: a timer report and an activity result each leave alone, on their own routes.
    const timer = batcher.submit('ns', 'fireTimer', { runId: 'r', timerId: '1' });
    const result = batcher.submit('ns', 'completeActivityTask', { taskToken: 't1', result: null });
    await tick();
    expect(requests.map((r) => r.kind)).toEqual(['fireTimer', 'completeActivityTask']);
    // The server holds the timer report; more task reports come and go meanwhile, with their own
    // request in flight, never joining the held one.
    requests[1]!.answer({ ok: 1 });
    await expect(result).resolves.toEqual({ ok: 1 });
    const more = [0, 1].map((i) => batcher.submit('ns', 'completeWorkflowTask', { taskToken: `w${i}`, commands: [] }));
    await tick();
    expect(requests.map((r) => r.kind)).toEqual(['fireTimer', 'completeActivityTask', 'many']);
    expect(JSON.parse(requests[2]!.json).reports.map((r: { kind: string }) => r.kind)).toEqual([
      'completeWorkflowTask',
      'completeWorkflowTask',
    ]);
    requests[2]!.answer({
      results: [
        { ok: true, response: 'a' },
        { ok: true, response: 'b' },
      ],
    });
    await expect(Promise.all(more)).resolves.toEqual(['a', 'b']);
    // Timer reports made while the held one is out queue behind it in their own lane.
    const laterTimer = batcher.submit('ns', 'fireTimer', { runId: 's', timerId: '1' });
    await tick();
    expect(requests).toHaveLength(3);
    requests[0]!.answer({ outcome: 'fired' });
    await expect(timer).resolves.toEqual({ outcome: 'fired' });
    await tick();
    expect(requests.map((r) => r.kind)).toEqual(['fireTimer', 'completeActivityTask', 'many', 'fireTimer']);
    requests[3]!.answer({ outcome: 'fired' });
    await expect(laterTimer).resolves.toEqual({ outcome: 'fired' });
  });
});
