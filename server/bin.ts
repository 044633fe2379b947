/**
 * The process entry of the `kiln` command: `bin/kiln.js` runs the compiled file, tests
 * and benchmarks run the sources with `node --import tsx server/bin.ts serve|import|seed`.
 */
import { main } from './cli.js';

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
