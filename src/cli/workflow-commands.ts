import { randomUUID } from 'node:crypto';
import { type Command, Option } from 'commander';
import pc from 'picocolors';
import { awaitFinalOutcome, RESULT_POLL_MS } from '../client/workflow-handle.js';
import {
  fromPayload,
  ID_REUSE_POLICIES,
  type IdReusePolicy,
  type ListWorkflowsResponse,
  type StartWorkflowRequest,
  toPayloads,
  WORKFLOW_STATUSES,
  type WorkflowResult,
  type WorkflowStatus,
} from '../protocol/index.js';
import {
  addCommonOptions,
  type CommonOptions,
  connectClient,
  integerOption,
  jsonArrayOption,
  print,
  printJson,
} from './common.js';
import { registerDescribeCommand } from './describe-command.js';
import {
  formatDuration,
  formatFailure,
  formatJson,
  formatStatus,
  formatTable,
  formatTimestamp,
  quoteArg,
} from './format.js';
import { registerHistoryCommand } from './history-command.js';
import { registerQueryCommand } from './query-command.js';
import { formatFailingRuns, registerResetCommands } from './reset-commands.js';
import { registerSignalCommands } from './signal-commands.js';
import { startSpinner } from './spinner.js';
import { registerWatchCommand } from './watch-command.js';

/** The server's largest list page. */
const MAX_PAGE_SIZE = 1000;

/** Registers `tideway workflow …`: start, execute, list, describe, result, history, signal, signal-with-start and terminate. */
export function registerWorkflowCommands(program: Command): void {
  const workflow = program.command('workflow').description('start workflows, look at them, signal and terminate them');

  addStartOptions(
    workflow
      .command('start')
      .description('start a workflow; prints its workflow id and run id')
      .argument('<workflowType>', 'the workflow function name, e.g. sayHello'),
  ).action(startWorkflow);

  addStartOptions(
    workflow
      .command('execute')
      .description('start a workflow and wait for it to close; print its result, or its failure (exit code 1)')
      .argument('<workflowType>', 'the workflow function name, e.g. sayHello'),
  ).action(executeWorkflow);

  addCommonOptions(
    workflow
      .command('list')
      .description('list workflows, newest first')
      .addOption(new Option('--status <status>', 'only workflows with this status').choices(WORKFLOW_STATUSES))
      .option('--type <workflowType>', 'only workflows of this type')
      .option('--failing', 'only workflows whose workflow task keeps failing, with the error (dead letters)')
      .addOption(
        new Option('--limit <n>', 'show at most this many').default(20).argParser(integerOption('--limit', 1, 100_000)),
      ),
  ).action(listWorkflows);

  registerDescribeCommand(workflow);

  addCommonOptions(
    workflow
      .command('result')
      .description('wait for a workflow to close; print its result, or its failure (exit code 1)')
      .argument('<workflowId>')
      .option('--run-id <runId>', 'a specific run (default: the latest)'),
  ).action(waitForResult);

  registerHistoryCommand(workflow);
  registerSignalCommands(workflow);
  registerResetCommands(workflow);
  registerQueryCommand(workflow);
  registerWatchCommand(workflow);
}

/** The options of `start` and `execute`, and the common ones. */
function addStartOptions(command: Command): Command {
  return addCommonOptions(
    command
      .requiredOption('--id <workflowId>', 'workflow id: your business key, unique among running workflows')
      .requiredOption('--task-queue <queue>', 'task queue a worker for this workflow polls')
      .addOption(
        new Option('--args <json>', 'arguments as a JSON array').argParser(
          jsonArrayOption('--args', "the workflow's arguments"),
        ),
      )
      .addOption(
        new Option('--id-reuse-policy <policy>', 'what to do when the id was used before').choices(ID_REUSE_POLICIES),
      ),
  );
}

interface StartOptions extends CommonOptions {
  id: string;
  taskQueue: string;
  args?: unknown[];
  idReusePolicy?: IdReusePolicy;
}

function startRequest(workflowType: string, options: StartOptions): StartWorkflowRequest {
  return {
    workflowId: options.id,
    workflowType,
    taskQueue: options.taskQueue,
    args: toPayloads(options.args ?? []),
    requestId: randomUUID(),
    ...(options.idReusePolicy ? { idReusePolicy: options.idReusePolicy } : {}),
  };
}

async function startWorkflow(workflowType: string, options: StartOptions): Promise<void> {
  const client = await connectClient(options);
  // The API call itself rather than client.workflow.start: --json prints exactly what the server answered.
  const response = await client.connection.api.startWorkflow(client.namespace, startRequest(workflowType, options));
  if (options.json) return printJson(response);
  print(`Started workflow ${pc.bold(workflowType)}`);
  print(`  workflow id: ${response.workflowId}`);
  print(`  run id:      ${response.runId}`);
  print(pc.dim(`Wait for it with: tideway workflow result ${quoteArg(response.workflowId)}`));
}

interface ListOptions extends CommonOptions {
  status?: WorkflowStatus;
  type?: string;
  failing?: boolean;
  limit: number;
}

async function listWorkflows(options: ListOptions): Promise<void> {
  const client = await connectClient(options);
  const listed: ListWorkflowsResponse = { executions: [] };
  let nextPageToken: string | undefined;
  do {
    const page = await client.connection.api.listWorkflows(client.namespace, {
      pageSize: Math.min(MAX_PAGE_SIZE, options.limit - listed.executions.length),
      ...(options.status ? { status: options.status } : {}),
      ...(options.type ? { workflowType: options.type } : {}),
      ...(options.failing ? { workflowTaskFailing: true } : {}),
      ...(nextPageToken ? { nextPageToken } : {}),
    });
    listed.executions.push(...page.executions);
    nextPageToken = page.nextPageToken;
  } while (nextPageToken && listed.executions.length < options.limit);
  if (nextPageToken) listed.nextPageToken = nextPageToken;
  if (options.json) return printJson(listed);

  if (listed.executions.length === 0) {
    const filters = [
      options.status && `status ${options.status}`,
      options.type && `type ${options.type}`,
      options.failing && 'a failing workflow task',
    ];
    const which = filters.filter(Boolean).join(', ');
    return print(`No workflows${which ? ` with ${which}` : ''} in namespace "${client.namespace}".`);
  }
  const now = Date.now();
  if (options.failing) {
    print(formatFailingRuns(listed.executions, now));
    if (nextPageToken) print(pc.dim(`(showing the newest ${options.limit}; raise --limit to see more)`));
    return;
  }
  const rows = listed.executions.map((w) => [
    w.workflowId,
    w.workflowType,
    formatStatus(w.status),
    formatTimestamp(w.startTime),
    w.closeTime === undefined ? '' : formatTimestamp(w.closeTime),
    w.closeTime === undefined
      ? pc.dim(`${formatDuration(now - w.startTime)} so far`)
      : formatDuration(w.closeTime - w.startTime),
    String(w.historyLength),
  ]);
  print(formatTable(['WORKFLOW ID', 'TYPE', 'STATUS', 'STARTED', 'CLOSED', 'DURATION', 'EVENTS'], rows));
  if (nextPageToken) print(pc.dim(`(showing the newest ${options.limit}; raise --limit to see more)`));
}

interface RunOptions extends CommonOptions {
  runId?: string;
}

async function waitForResult(workflowId: string, options: RunOptions): Promise<void> {
  const client = await connectClient(options);
  const spinner = startSpinner(`waiting for workflow "${workflowId}" to close`);
  let outcome: WorkflowResult;
  try {
    outcome = await awaitFinalOutcome(client.connection.api, client.namespace, workflowId, options.runId);
  } finally {
    spinner.stop();
  }
  printOutcome(workflowId, outcome, options);
}

/** Start-and-wait: one request starts the run and answers when it closes (result waits follow if it runs long). */
async function executeWorkflow(workflowType: string, options: StartOptions): Promise<void> {
  const client = await connectClient(options);
  const spinner = startSpinner(`running workflow "${options.id}"`);
  let outcome: WorkflowResult;
  try {
    const started = await client.connection.api.startWorkflow(client.namespace, {
      ...startRequest(workflowType, options),
      waitForResultMs: RESULT_POLL_MS,
    });
    outcome = await awaitFinalOutcome(
      client.connection.api,
      client.namespace,
      started.workflowId,
      started.runId,
      started.outcome,
    );
  } finally {
    spinner.stop();
  }
  printOutcome(options.id, outcome, options);
}

/** The result as JSON, or the failure on stderr with exit code 1. */
function printOutcome(workflowId: string, outcome: WorkflowResult, options: CommonOptions): void {
  if (outcome.status !== 'completed') process.exitCode = 1;
  if (options.json) printJson(outcome);
  else if (outcome.status === 'completed') print(formatJson(fromPayload(outcome.result)));
  else {
    const failure = outcome.failure ?? { type: 'Error', message: `workflow ${outcome.status}` };
    process.stderr.write(`${pc.red(`error: workflow "${workflowId}" ${outcome.status}`)}\n${formatFailure(failure)}\n`);
  }
}
