import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import pc from 'picocolors';
import { registerActivityCommands } from './activity-commands.js';
import { reportError } from './errors.js';
import { registerServerCommand } from './server-command.js';
import { registerWorkflowCommands } from './workflow-commands.js';

/** The package version: package.json sits two levels up from both src/cli and dist/cli. */
function packageVersion(): string {
  const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  return String(packageJson.version);
}

/** The `tideway` command and all its subcommands, ready to parse. */
export function createProgram(): Command {
  const program = new Command('tideway')
    .description('Tideway: durable workflows for TypeScript on PostgreSQL')
    .version(packageVersion(), '-v, --version', 'print the version')
    .showHelpAfterError(pc.dim('(add --help for usage)'))
    .configureOutput({ outputError: (text, write) => write(pc.red(text)) });
  registerServerCommand(program);
  registerWorkflowCommands(program);
  registerActivityCommands(program);
  return program;
}

/**
 * Runs the CLI on `argv` (as in process.argv). Failures are printed as
 * `error: <message>` and leave process.exitCode at 1; nothing is thrown.
 */
export async function runCli(argv: string[]): Promise<void> {
  try {
    await createProgram().parseAsync(argv);
  } catch (error) {
    reportError(error);
  }
}
