import { type Payload, toPayloads } from '../protocol/index.js';
import { currentWorkflow } from './context.js';

/**
 * Thrown by `continueAsNew` and caught by the runtime, which turns it into a
 * ContinueAsNew command. Workflow code should not catch it.
 */
export class ContinueAsNewRequest extends Error {
  override name = 'ContinueAsNewRequest';
  constructor(readonly input: Payload[]) {
    super('the workflow continues as a new run');
  }
}

/**
 * Ends this run and starts a new run of the same workflow, with the same
 * id and fresh history, taking `args`. Use it to keep histories short in
 * long-lived workflows (a loop that would otherwise grow without end). The
 * client's `result()` follows the chain to the final run.
 */
export function continueAsNew<F extends (...args: any[]) => Promise<unknown>>(...args: Parameters<F>): Promise<never> {
  currentWorkflow('continueAsNew');
  throw new ContinueAsNewRequest(toPayloads(args));
}
