import { expect, test } from 'vitest';
import { RegisteredTypes } from './registered-types.js';

test('a burst of starts on a queue shares one read of its pollers', async () => {
  const registered = new RegisteredTypes();
  let reads = 0;
  const read = async () => {
    reads++;
    await new Promise((r) => setTimeout(r, 5));
    return [{ types: ['a', 'b'] }, { types: ['c'] }];
  };
  const results = await Promise.all(Array.from({ length: 100 }, () => registered.registered('ns', 'q', 0, read)));
  expect(reads).toBe(1);
  for (const types of results) expect([...(types ?? [])].sort()).toEqual(['a', 'b', 'c']);
  // Remembered for a while: no read at all.
  expect(registered.knownRecently('ns', 'q', 'c', 1_000)).toBe(true);
  expect(registered.knownRecently('ns', 'q', 'd', 1_000)).toBe(false);
  expect(registered.knownRecently('ns', 'q', 'c', 60_000)).toBe(false);
  // Another queue, or a later burst, reads again.
  await registered.registered('ns', 'other', 0, read);
  await registered.registered('ns', 'q', 60_000, read);
  expect(reads).toBe(3);
});

test('a queue no worker polled lately is not remembered, and a failed read is not shared with later starts', async () => {
  const registered = new RegisteredTypes();
  expect(await registered.registered('ns', 'q', 0, async () => [])).toBeUndefined();
  expect(registered.knownRecently('ns', 'q', 'a', 1)).toBe(false);
  await expect(
    registered.registered('ns', 'q', 0, async () => {
      throw new Error('database down');
    }),
  ).rejects.toThrow(/database down/);
  expect(await registered.registered('ns', 'q', 0, async () => [{ types: ['a'] }])).toEqual(new Set(['a']));
});
