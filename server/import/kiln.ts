/**
 * Runs the `kiln` command line from the TypeScript sources, without a build:
 * `node --import tsx server/import/kiln.ts import --verbose DIR`. `server/cli.ts` only
 * exports `main`, and `bin/kiln.js` runs the compiled `dist/`; tests and benchmarks that
 * spawn a real import process use this file instead.
 */
import { main } from '../cli.js';

main(process.argv.slice(2)).then(
  (code) => {
    // -1: a long-running command (serve) that stops on a signal, not now.
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
