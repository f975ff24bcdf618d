import { type Command, InvalidArgumentError } from 'commander';
import { ApplicationFailure } from '../protocol/index.js';
import { addCommonOptions, type CommonOptions, connectClient, print, printJson } from './common.js';

/**
 * Registers `activity complete|fail|heartbeat`: finish an activity that
 * completes asynchronously (it threw CompleteAsyncError and handed out its
 * task token), from a shell.
 */
export function registerActivityCommands(program: Command): void {
  const activity = program
    .command('activity')
    .description('complete, fail or heartbeat an asynchronously completed activity by its task token');

  addCommonOptions(
    activity
      .command('complete')
      .description("record the activity's result; its workflow continues with it")
      .argument('<taskToken>', 'the token the activity handed out (activityInfo().taskToken)')
      .option('--result <json>', 'the result as JSON (default: null)', jsonValue('--result')),
  ).action(async (taskToken: string, options: CommonOptions & { result?: unknown }) => {
    const client = await connectClient(options);
    await client.activities.complete(taskToken, options.result ?? null);
    if (options.json) return printJson({ ok: true });
    print('activity completed');
  });

  addCommonOptions(
    activity
      .command('fail')
      .description('fail this attempt of the activity (retried per its retry policy unless --non-retryable)')
      .argument('<taskToken>')
      .requiredOption('--message <text>', 'what went wrong')
      .option('--type <type>', 'an error type, matched against nonRetryableErrorTypes', 'Error')
      .option('--non-retryable', 'fail the activity for good, without retries', false),
  ).action(
    async (taskToken: string, options: CommonOptions & { message: string; type: string; nonRetryable: boolean }) => {
      const client = await connectClient(options);
      const failure = options.nonRetryable
        ? ApplicationFailure.nonRetryable(options.message, options.type)
        : ApplicationFailure.retryable(options.message, options.type);
      await client.activities.fail(taskToken, failure);
      if (options.json) return printJson({ ok: true });
      print('activity attempt failed');
    },
  );

  addCommonOptions(
    activity
      .command('heartbeat')
      .description('keep the activity alive past its heartbeat timeout, with details to resume from')
      .argument('<taskToken>')
      .option('--details <json>', 'heartbeat details as JSON', jsonValue('--details')),
  ).action(async (taskToken: string, options: CommonOptions & { details?: unknown }) => {
    const client = await connectClient(options);
    const response = await client.activities.heartbeat(taskToken, options.details);
    if (options.json) return printJson(response);
    print(
      response.cancelRequested ? 'heartbeat recorded; the workflow asked the activity to stop' : 'heartbeat recorded',
    );
  });
}

function jsonValue(name: string) {
  return (value: string): unknown => {
    try {
      return JSON.parse(value);
    } catch (error) {
      throw new InvalidArgumentError(
        `${name} is not valid JSON (${(error as Error).message}); quote strings, e.g. ${name} '"approved"'`,
      );
    }
  };
}
