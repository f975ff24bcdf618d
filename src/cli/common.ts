import { hostname, userInfo } from 'node:os';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { Client, DEFAULT_ADDRESS } from '../client/index.js';

/** Options every client-side command takes: where the server is, which namespace, and how to print. */
export interface CommonOptions {
  json: boolean;
  address: string;
  namespace: string;
  token?: string;
}

/** Adds --json, --address, --namespace and --token (with their environment variables) to a command. */
export function addCommonOptions(command: Command): Command {
  return command
    .option('--json', 'print the raw API response as JSON (for scripts)', false)
    .addOption(new Option('--address <url>', 'Tideway server address').env('TIDEWAY_ADDRESS').default(DEFAULT_ADDRESS))
    .addOption(new Option('--namespace <name>', 'namespace').env('TIDEWAY_NAMESPACE').default('default'))
    .addOption(new Option('--token <token>', 'bearer token, if the server requires one').env('TIDEWAY_TOKEN'));
}

/** Connects a client with the command's options (checks the server speaks a compatible protocol). */
export function connectClient(options: CommonOptions): Promise<Client> {
  return Client.connect({
    address: options.address,
    namespace: options.namespace,
    ...(options.token ? { token: options.token } : {}),
  });
}

/**
 * Who is acting, as the history records it for signals and terminations:
 * `tideway-cli ana@build-7`, so a reader can tell a person from a worker.
 */
export function cliIdentity(): string {
  let user: string | undefined;
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (some containers): the host alone still says where it came from.
  }
  return `tideway-cli ${user ? `${user}@` : ''}${hostname()}`;
}

/** Writes one JSON document to stdout: the only output of a command run with --json. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Writes human output to stdout. */
export function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** Parser for options that take a whole number within bounds, with a message that names the option. */
export function integerOption(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`);
    }
    return parsed;
  };
}

/**
 * Parser for an option that takes a JSON array (`--args`, `--signal-args`),
 * with messages that name the option and say what the array holds.
 */
export function jsonArrayOption(name: string, holds: string) {
  return (value: string): unknown[] => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch (error) {
      throw new InvalidArgumentError(
        `${name} is not valid JSON (${(error as Error).message}); pass a JSON array, e.g. ${name} '["World", 3]'`,
      );
    }
    if (!Array.isArray(parsed)) {
      throw new InvalidArgumentError(
        `${name} must be a JSON array of ${holds}, e.g. ${name} '["World"]' (got ${value})`,
      );
    }
    return parsed;
  };
}
