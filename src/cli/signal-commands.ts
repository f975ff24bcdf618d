import { randomUUID } from 'node:crypto';
import { type Command, Option } from 'commander';
import pc from 'picocolors';
import { ID_REUSE_POLICIES, type IdReusePolicy, toPayloads } from '../protocol/index.js';
import {
  addCommonOptions,
  type CommonOptions,
  cliIdentity,
  connectClient,
  jsonArrayOption,
  print,
  printJson,
} from './common.js';
import { quoteArg } from './format.js';

/** The reason recorded when `workflow terminate` is given none. */
const DEFAULT_TERMINATE_REASON = 'terminated with the tideway CLI';

/**
 * Registers the commands that act on a running workflow from outside:
 * `signal`, `signal-with-start`, `cancel` and `terminate`.
 */
export function registerSignalCommands(workflow: Command): void {
  addCommonOptions(
    workflow
      .command('signal')
      .description('send a signal to a running workflow; it is durable once this returns')
      .argument('<workflowId>')
      .argument('<signalName>', 'the signal name, as in defineSignal(name)')
      .addOption(
        new Option('--args <json>', "the signal's arguments as a JSON array").argParser(
          jsonArrayOption('--args', "the signal's arguments"),
        ),
      )
      .option('--run-id <runId>', 'a specific run (default: the latest)'),
  ).action(signalWorkflow);

  addCommonOptions(
    workflow
      .command('signal-with-start')
      .description('signal the running workflow of an id, or start it with the signal if none is running')
      .argument('<workflowType>', 'the workflow function name, e.g. approval')
      .argument('<signalName>', 'the signal name, as in defineSignal(name)')
      .requiredOption('--id <workflowId>', 'workflow id: your business key, unique among running workflows')
      .requiredOption('--task-queue <queue>', 'task queue a worker for this workflow polls')
      .addOption(
        new Option('--args <json>', "the workflow's arguments as a JSON array, if it is started").argParser(
          jsonArrayOption('--args', "the workflow's arguments"),
        ),
      )
      .addOption(
        new Option('--signal-args <json>', "the signal's arguments as a JSON array").argParser(
          jsonArrayOption('--signal-args', "the signal's arguments"),
        ),
      )
      .addOption(
        new Option('--id-reuse-policy <policy>', 'what a start does when the id was used before').choices(
          ID_REUSE_POLICIES,
        ),
      ),
  ).action(signalWithStart);

  addCommonOptions(
    workflow
      .command('cancel')
      .description('ask a running workflow to cancel; its code sees a cancellation and may clean up first')
      .argument('<workflowId>')
      .option('--reason <text>', 'why, recorded in the history', 'cancelled with the tideway CLI')
      .option('--run-id <runId>', 'a specific run (default: the latest)'),
  ).action(cancelWorkflow);

  addCommonOptions(
    workflow
      .command('terminate')
      .description('stop a running workflow at once, recording a reason; no workflow code runs')
      .argument('<workflowId>')
      .option('--reason <text>', 'why, recorded in the history and shown as its failure', DEFAULT_TERMINATE_REASON)
      .option('--run-id <runId>', 'a specific run (default: the latest)'),
  ).action(terminateWorkflow);
}

interface SignalOptions extends CommonOptions {
  args?: unknown[];
  runId?: string;
}

async function signalWorkflow(workflowId: string, signalName: string, options: SignalOptions): Promise<void> {
  const client = await connectClient(options);
  await client.connection.api.signalWorkflow(client.namespace, {
    workflowId,
    signalName,
    args: toPayloads(options.args ?? []),
    identity: cliIdentity(),
    ...(options.runId ? { runId: options.runId } : {}),
  });
  if (options.json) return printJson({ ok: true });
  print(`Sent signal ${pc.bold(signalName)} to workflow ${pc.bold(workflowId)}${runLabel(options.runId)}`);
}

interface SignalWithStartOptions extends CommonOptions {
  id: string;
  taskQueue: string;
  args?: unknown[];
  signalArgs?: unknown[];
  idReusePolicy?: IdReusePolicy;
}

async function signalWithStart(
  workflowType: string,
  signalName: string,
  options: SignalWithStartOptions,
): Promise<void> {
  const client = await connectClient(options);
  const response = await client.connection.api.signalWithStart(client.namespace, {
    workflowId: options.id,
    workflowType,
    taskQueue: options.taskQueue,
    args: toPayloads(options.args ?? []),
    signalName,
    signalArgs: toPayloads(options.signalArgs ?? []),
    requestId: randomUUID(),
    identity: cliIdentity(),
    ...(options.idReusePolicy ? { idReusePolicy: options.idReusePolicy } : {}),
  });
  if (options.json) return printJson(response);
  print(
    response.started
      ? `Started workflow ${pc.bold(workflowType)} with signal ${pc.bold(signalName)}`
      : `Sent signal ${pc.bold(signalName)} to the running workflow (no new run started)`,
  );
  print(`  workflow id: ${response.workflowId}`);
  print(`  run id:      ${response.runId}`);
  print(pc.dim(`Wait for it with: tideway workflow result ${quoteArg(response.workflowId)}`));
}

interface TerminateOptions extends CommonOptions {
  reason: string;
  runId?: string;
}

async function cancelWorkflow(workflowId: string, options: TerminateOptions): Promise<void> {
  const client = await connectClient(options);
  await client.connection.api.cancelWorkflow(client.namespace, {
    workflowId,
    reason: options.reason,
    identity: cliIdentity(),
    ...(options.runId ? { runId: options.runId } : {}),
  });
  if (options.json) return printJson({ ok: true });
  print(`Requested cancellation of workflow ${pc.bold(workflowId)}${runLabel(options.runId)}: ${options.reason}`);
}

async function terminateWorkflow(workflowId: string, options: TerminateOptions): Promise<void> {
  const client = await connectClient(options);
  await client.connection.api.terminateWorkflow(client.namespace, {
    workflowId,
    reason: options.reason,
    identity: cliIdentity(),
    ...(options.runId ? { runId: options.runId } : {}),
  });
  if (options.json) return printJson({ ok: true });
  print(`Terminated workflow ${pc.bold(workflowId)}${runLabel(options.runId)}: ${options.reason}`);
}

function runLabel(runId: string | undefined): string {
  return runId ? ` (run ${runId})` : '';
}
