// The benchmark's workflows for DBOS Transact: the same four as Tideway's,
// with DBOS steps for activities and DBOS.sleep for the durable timer.
// Registered when this module loads, which must be before DBOS.launch().
import { DBOS } from '@dbos-inc/dbos-sdk';

function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

async function addOneStep(n: number): Promise<number> {
  return n + 1;
}

const addOne = (n: number) => DBOS.runStep(() => addOneStep(n), { name: 'addOne' });

export const dbosWorkflows = {
  hello: DBOS.registerWorkflow(async (n: number) => await addOne(n), { name: 'hello' }),
  tenSteps: DBOS.registerWorkflow(
    async (n: number) => {
      let value = n;
      for (let i = 0; i < 10; i++) value = await addOne(value);
      return value;
    },
    { name: 'tenSteps' },
  ),
  sleeper: DBOS.registerWorkflow(
    async (ms: number) => {
      const sleptAt = wallClockMs();
      await DBOS.sleep(ms);
      const wokeAt = wallClockMs();
      return { sleptAt, wokeAt };
    },
    { name: 'sleeper' },
  ),
  longHistory: DBOS.registerWorkflow(
    async (steps: number) => {
      const times: number[] = [];
      for (let i = 0; i < steps; i++) times.push(await DBOS.runStep(async () => wallClockMs(), { name: 'stamp' }));
      return times;
    },
    { name: 'longHistory' },
  ),
};
