import { mkdir, readFile, rename } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';

/**
 * A TypeScript entry point (the CLI, a crash-test fixture) compiled into one
 * JavaScript file, for tests that start it as a child process many times.
 * `node --import tsx` compiles every source file of the program again at
 * each start, about 0.7 s of a test's time per command; the compiled file
 * starts in about half that. It is the same source: compiled once per test
 * process, on first use, so it can never be stale, with packages left as
 * imports of node_modules. Each file's `import.meta.url` keeps naming its
 * source file, so files found beside the source (migrations, package.json)
 * are found as they are when run from source.
 */
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Under node_modules, so the compiled file's imports of packages resolve as the source's do. */
const OUT_DIR = join(REPO_ROOT, 'node_modules', '.cache', 'tideway-tests');

const compiled = new Map<string, Promise<string>>();

/** The compiled file of `entry` (relative to the repository root, or absolute): compiled on first use. */
export function compiledScript(entry: string): Promise<string> {
  const source = isAbsolute(entry) ? entry : resolve(REPO_ROOT, entry);
  let file = compiled.get(source);
  if (!file) {
    file = compile(source);
    compiled.set(source, file);
  }
  return file;
}

async function compile(source: string): Promise<string> {
  const name = relative(REPO_ROOT, source).replace(/[^a-zA-Z0-9]+/g, '_');
  const outfile = join(OUT_DIR, `${name}.mjs`);
  // Written under a name of this process and then renamed: test files compiling the same entry at once
  // (parallel workers) never see each other's half-written file.
  const partial = `${outfile}.${process.pid}.tmp`;
  await mkdir(dirname(outfile), { recursive: true });
  await build({
    entryPoints: [source],
    outfile: partial,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    conditions: ['source'],
    logLevel: 'error',
    plugins: [sourceImportMetaUrl],
  });
  await rename(partial, outfile);
  return outfile;
}

/** Replaces `import.meta.url` in each source file with that file's own URL. */
const sourceImportMetaUrl: Plugin = {
  name: 'source-import-meta-url',
  setup(build) {
    build.onLoad({ filter: /\.[cm]?ts$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      const url = JSON.stringify(pathToFileURL(args.path).href);
      return { contents: text.replaceAll('import.meta.url', url), loader: 'ts' };
    });
  },
};
