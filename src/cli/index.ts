// The `tideway` command line: `tideway server` runs a server, `tideway
// workflow …` starts and inspects workflows through the client. Human output
// by default, `--json` for scripts; it builds on client/, server/ and protocol/.
export { CliError } from './errors.js';
export { createProgram, runCli } from './program.js';
