#!/usr/bin/env node
// Entry point of the `tideway` bin (package.json points at dist/cli/main.js).
import { runCli } from './program.js';

await runCli(process.argv);
