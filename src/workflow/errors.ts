/**
 * Replay produced different commands than the history recorded: the code
 * changed in a way old runs cannot follow. The workflow task fails and is
 * retried; the run stays open until compatible code is deployed.
 */
export class NonDeterminismError extends Error {
  override name = 'NonDeterminismError';
}

/** Workflow code called something that is not deterministic (setTimeout, fetch…). */
export class DeterminismViolationError extends Error {
  override name = 'DeterminismViolationError';
}
