import { setMaxListeners } from 'node:events';
import {
  type StartOutcome,
  type StartWorkflowRequest,
  StartWorkflowsRequestSchema,
  type TidewayApi,
} from '../protocol/index.js';
import { linkedSignal } from './linked-signal.js';
import { parseRequest } from './parse.js';
import { errorOutcome } from './worker-reports.js';

/**
 * Applies each start of a `startWorkflows` request on its own, all at once,
 * as if each had come in a request of its own: each is checked by
 * `startWorkflow`, and starts made at once share transactions there just as
 * separate requests would. Each outcome goes to `onOutcome` as it settles.
 * Only a malformed envelope fails the whole request, before anything starts.
 */
export async function startWorkflows(
  target: Pick<TidewayApi, 'startWorkflow'>,
  namespace: string,
  raw: unknown,
  onOutcome: (outcome: StartOutcome) => void,
  onUnexpected: (error: unknown) => void,
  signal?: AbortSignal,
): Promise<void> {
  const { starts } = parseRequest(StartWorkflowsRequestSchema, raw, 'workflow starts');
  // Every waiting start listens for the caller going away: on a signal of the batch's own, which one listener
  // links to the caller's (a caller's signal warns of a leak past ten listeners; a batch holds up to 500).
  const gone = signal && linkedSignal(signal);
  if (gone) setMaxListeners(0, gone.signal);
  try {
    await Promise.all(
      starts.map((start, index) =>
        // Checked by startWorkflow with its own schema (the envelope only said it is an object).
        target.startWorkflow(namespace, start as StartWorkflowRequest, gone?.signal).then(
          (response) => onOutcome({ index, ok: true, response }),
          (error: unknown) => onOutcome({ index, ...errorOutcome(error, onUnexpected) }),
        ),
      ),
    );
  } finally {
    gone?.dispose();
  }
}
