import { describe, expect, test } from 'vitest';
import { SMOKE_SIZES } from './options.js';
import { computeRatios, pairedRatios } from './report/targets.js';
import type { WorkloadRounds } from './result.js';
import { combineRounds, rotate, runRounds } from './rounds.js';
import type { BenchSystem } from './systems/system.js';
import { timers } from './workloads/timers.js';
import type { Workload, WorkloadResult } from './workloads/workload.js';

const TW = 'tideway-inprocess-pg';
const DBOS = 'dbos-pg';

function fakeSystem(id: string): BenchSystem {
  return {
    id,
    label: id,
    engine: 'tideway',
    store: 'pglite',
    databasePrefix: id,
    open: () => Promise.reject(new Error('unused')),
  };
}

describe('rounds', () => {
  test('each round starts from the next system', () => {
    expect([0, 1, 2, 3].map((r) => rotate(['a', 'b', 'c'], r))).toEqual([
      ['a', 'b', 'c'],
      ['b', 'c', 'a'],
      ['c', 'a', 'b'],
      ['a', 'b', 'c'],
    ]);
    expect(rotate([], 2)).toEqual([]);
  });

  test('runs every system once per round, alternating, and keeps each session open across rounds', async () => {
    const calls: string[] = [];
    let clock = 0;
    const workload: Workload & Required<Pick<Workload, 'open'>> = {
      name: 'latency',
      title: 'fake',
      supports: () => true,
      async open({ system }) {
        calls.push(`open ${system.id}`);
        return {
          measure: async () => {
            calls.push(`measure ${system.id}`);
            clock++;
            return { started: 2, completed: 2, p50Ms: clock };
          },
          close: async () => {
            calls.push(`close ${system.id}`);
          },
        };
      },
    };
    const outcome = await runRounds(
      workload,
      [fakeSystem('a'), fakeSystem('b')],
      { ...SMOKE_SIZES, repetitions: 3 },
      () => {},
    );
    expect(calls).toEqual([
      'open a',
      'open b',
      'measure a',
      'measure b',
      'measure b',
      'measure a',
      'measure a',
      'measure b',
      'close a',
      'close b',
    ]);
    expect(outcome.orders).toEqual([
      ['a', 'b'],
      ['b', 'a'],
      ['a', 'b'],
    ]);
    expect(outcome.rounds.get('a')!.map((r) => r.p50Ms)).toEqual([1, 4, 5]);
    // Medians of the figures, sums of the counts.
    expect(outcome.results.get('a')).toEqual({ started: 6, completed: 6, p50Ms: 4 });
    expect(outcome.errors).toEqual([]);
  });

  test('a system that fails drops out; the others finish their rounds', async () => {
    const workload: Workload & Required<Pick<Workload, 'open'>> = {
      name: 'latency',
      title: 'fake',
      supports: () => true,
      async open({ system }) {
        let n = 0;
        return {
          measure: async () => {
            n++;
            if (system.id === 'b' && n === 2) throw new Error('worker died');
            return { p50Ms: n };
          },
          close: async () => {},
        };
      },
    };
    const outcome = await runRounds(
      workload,
      [fakeSystem('a'), fakeSystem('b')],
      { ...SMOKE_SIZES, repetitions: 3 },
      () => {},
    );
    expect(outcome.rounds.get('a')).toHaveLength(3);
    expect(outcome.rounds.get('b')).toHaveLength(1);
    expect(outcome.errors).toEqual([{ system: 'b', message: 'Error: worker died' }]);
    expect(outcome.orders.at(-1)).toEqual(['a']);
  });

  test('timers: an early timer in any round counts, and the extremes are over all rounds', () => {
    const round = (early: number, min: number, max: number, p99: number): WorkloadResult => ({
      started: 100,
      completed: 100,
      wallMs: 1100,
      latenessP99Ms: p99,
      latenessMaxMs: max,
      latenessMinMs: min,
      earlyTimers: early,
    });
    const combined = combineRounds(timers, [round(0, 3, 20, 9), round(1, -1, 12, 8), round(0, 2, 40, 30)]);
    expect(combined).toMatchObject({
      started: 300,
      completed: 300,
      earlyTimers: 1,
      latenessMinMs: -1,
      latenessMaxMs: 40,
      latenessP99Ms: 9,
    });
  });
});

describe('ratios', () => {
  // The machine slows down 3× after the first round: Tideway is always 0.8× DBOS within a round.
  const rounds: Record<string, WorkloadRounds> = {
    latency: {
      orders: [
        [TW, DBOS],
        [DBOS, TW],
        [TW, DBOS],
      ],
      bySystem: {
        [TW]: [{ p50Ms: 2 }, { p50Ms: 6 }, { p50Ms: 6 }],
        [DBOS]: [{ p50Ms: 2.5 }, { p50Ms: 7.5 }, { p50Ms: 7.5 }],
      },
    },
  };

  test('are taken within each round, so a drift between rounds cancels', () => {
    expect(pairedRatios(rounds, 'latency', 'p50Ms', TW)).toEqual([0.8, 0.8, 0.8]);
    // Medians taken apart would mix rounds; the paired ratio does not.
    const results = { [TW]: { latency: { p50Ms: 6 } }, [DBOS]: { latency: { p50Ms: 2.5 } } };
    const [ratio] = computeRatios(results, rounds).filter((r) => r.label === 'latency p50');
    expect(ratio).toMatchObject({ system: TW, tideway: 6, dbos: 2.5, ratio: 0.8, rounds: [0.8, 0.8, 0.8] });
  });

  test('without rounds, are the ratio of the two figures', () => {
    const results = { [TW]: { backlog: { drainPerS: 900 } }, [DBOS]: { backlog: { drainPerS: 1000 } } };
    const [ratio] = computeRatios(results, {}).filter((r) => r.label === 'backlog drain wf/s');
    expect(ratio).toMatchObject({ ratio: 0.9 });
    expect(ratio!.rounds).toBeUndefined();
  });
});
