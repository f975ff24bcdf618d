import pc from 'picocolors';
import { WorkflowFailedError, WorkflowUpdateFailedError } from '../client/index.js';
import { TidewayApiError, TidewayFailure } from '../protocol/index.js';

/**
 * An error the user can fix (bad input, port taken, server down): the CLI
 * prints its message, without a stack trace, and exits 1.
 */
export class CliError extends Error {
  override name = 'CliError';
}

/** Errors whose message is the whole story; anything else is a bug and keeps its stack. */
function isExpected(error: unknown): error is Error {
  return (
    error instanceof CliError ||
    error instanceof TidewayApiError ||
    error instanceof TidewayFailure ||
    error instanceof WorkflowUpdateFailedError ||
    error instanceof WorkflowFailedError
  );
}

/** Prints `error: <message>` in red on stderr and marks the process as failed (exit code 1). */
export function reportError(error: unknown): void {
  const message = isExpected(error)
    ? error.message
    : error instanceof Error
      ? (error.stack ?? error.message)
      : String(error);
  process.stderr.write(`${pc.red(`error: ${message}`)}\n`);
  process.exitCode = 1;
}
