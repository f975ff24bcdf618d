import { type Command, Option } from 'commander';
import { addCommonOptions, type CommonOptions, connectClient, jsonArrayOption, print, printJson } from './common.js';

/**
 * Registers `workflow query` (read a workflow's state through a query
 * handler) and `workflow update` (change it through an update handler).
 */
export function registerQueryCommand(workflow: Command): void {
  addCommonOptions(
    workflow
      .command('update')
      .description("send an update: the workflow validates it, runs its handler and returns the handler's result")
      .argument('<workflowId>')
      .argument('<updateName>', 'the update name, as in defineUpdate(name)')
      .addOption(
        new Option('--args <json>', "the update's arguments as a JSON array").argParser(
          jsonArrayOption('--args', "the update's arguments"),
        ),
      )
      .option('--update-id <id>', 'makes a retried update idempotent (default: a new id)')
      .option('--run-id <runId>', 'a specific run (default: the latest)'),
  ).action(updateWorkflow);

  addCommonOptions(
    workflow
      .command('query')
      .description('ask a workflow for its state through a query handler (answered by a worker; nothing is recorded)')
      .argument('<workflowId>')
      .argument('<queryName>', 'the query name, as in defineQuery(name)')
      .addOption(
        new Option('--args <json>', "the query's arguments as a JSON array").argParser(
          jsonArrayOption('--args', "the query's arguments"),
        ),
      )
      .option('--run-id <runId>', 'a specific run (default: the latest)'),
  ).action(queryWorkflow);
}

interface QueryOptions extends CommonOptions {
  args?: unknown[];
  runId?: string;
}

async function updateWorkflow(
  workflowId: string,
  updateName: string,
  options: QueryOptions & { updateId?: string },
): Promise<void> {
  const client = await connectClient(options);
  const handle = client.workflow.getHandle(workflowId, options.runId);
  const result = await handle.executeUpdate(updateName, {
    args: options.args ?? [],
    ...(options.updateId ? { updateId: options.updateId } : {}),
  });
  if (options.json) return printJson({ result });
  print(JSON.stringify(result, null, 2));
}

async function queryWorkflow(workflowId: string, queryName: string, options: QueryOptions): Promise<void> {
  const client = await connectClient(options);
  const handle = client.workflow.getHandle(workflowId, options.runId);
  const result = await handle.query(queryName, ...(options.args ?? []));
  if (options.json) return printJson({ result });
  print(JSON.stringify(result, null, 2));
}
