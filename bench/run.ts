// `npm run bench`: runs the suite, prints the report, writes the JSON.
// Usage: npm run bench -- [--quick] [--only latency,timers] [--no-dbos] [--out file] (see --help)
import { parseCommandLine, USAGE } from './options.js';
import { renderReport } from './report/print.js';
import { runSuite } from './suite.js';

let options: ReturnType<typeof parseCommandLine>;
try {
  options = parseCommandLine(process.argv.slice(2));
} catch (error) {
  console.error(`${(error as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (options === 'help') {
  console.log(USAGE);
  process.exit(0);
}
const result = await runSuite(options);
console.log(renderReport(result));
if (options.out) console.log(`\nJSON: ${options.out}`);
// DBOS and pg pools may leave handles behind; the run is over.
process.exit(result.errors.length > 0 ? 1 : 0);
