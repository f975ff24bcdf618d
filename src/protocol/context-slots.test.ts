import { describe, expect, test } from 'vitest';
import { contextSlot, runInSlots } from './context-slots.js';

const workflow = contextSlot<string>('workflow');
const scope = contextSlot<string>('scope');
const activity = contextSlot<string>('activity');

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

describe('context slots', () => {
  test('each slot behaves as a storage of its own: setting or leaving one keeps the others', async () => {
    await workflow.run('w1', async () => {
      await scope.run('s1', async () => {
        await tick();
        expect([workflow.getStore(), scope.getStore(), activity.getStore()]).toEqual(['w1', 's1', undefined]);
        await workflow.exit(async () => {
          await tick();
          expect([workflow.getStore(), scope.getStore()]).toEqual([undefined, 's1']);
        });
        await workflow.run('w2', async () => {
          expect([workflow.getStore(), scope.getStore()]).toEqual(['w2', 's1']);
        });
        expect([workflow.getStore(), scope.getStore()]).toEqual(['w1', 's1']);
      });
      expect([workflow.getStore(), scope.getStore()]).toEqual(['w1', undefined]);
    });
    expect(workflow.getStore()).toBeUndefined();
  });

  test('values follow their own async calls, and runs at once do not see each other’s', async () => {
    const seen = await Promise.all(
      ['a', 'b', 'c'].map((name) =>
        runInSlots({ workflow: name, scope: `${name}-scope` }, async () => {
          await tick();
          await Promise.resolve();
          return `${workflow.getStore()}/${scope.getStore()}`;
        }),
      ),
    );
    expect(seen).toEqual(['a/a-scope', 'b/b-scope', 'c/c-scope']);
    expect([workflow.getStore(), scope.getStore()]).toEqual([undefined, undefined]);
  });

  test('a throw leaves the slots as they were', () => {
    expect(() =>
      activity.run('act', () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(activity.getStore()).toBeUndefined();
  });
});
