import {
  type StartOutcome,
  type StartWorkflowRequest,
  StartWorkflowsRequestSchema,
  type TidewayApi,
} from '../protocol/index.js';
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
): Promise<void> {
  const { starts } = parseRequest(StartWorkflowsRequestSchema, raw, 'workflow starts');
  await Promise.all(
    starts.map((start, index) =>
      // Checked by startWorkflow with its own schema (the envelope only said it is an object).
      target.startWorkflow(namespace, start as StartWorkflowRequest).then(
        (response) => onOutcome({ index, ok: true, response }),
        (error: unknown) => onOutcome({ index, ...errorOutcome(error, onUnexpected) }),
      ),
    ),
  );
}
