import { parseArgs } from 'node:util';
import { openCore } from '../core.js';
import { loadConfig } from '../config.js';
import { databaseLocation } from '../db/connect.js';
import { listImportFiles } from './files.js';
import { DEFAULT_COMMIT_RESOURCES, DEFAULT_NDJSON_CHUNK, importFiles, type ImportOptions } from './importer.js';
import { startPreparing } from './pipeline.js';
import { committedLine, failureLine, ProgressLine, summaryLine } from './progress.js';
import { ImportUsageError } from './types.js';
import { stopOnSignals } from '../stop-signals.js';

const USAGE = `Usage: kiln import [--verbose] [--commit-size N] [--keep-indexes] PATH...

Loads FHIR R4 transaction/batch/collection Bundles (.json, .json.gz) and NDJSON
(.ndjson, .ndjson.gz) from the files and folders given (folders recursively, by name).
Each Bundle file loads or fails as a whole; NDJSON files per chunk of ${DEFAULT_NDJSON_CHUNK} resources.
Consecutive files share a transaction until it holds N resources (or after a second).
Resources keep their ids (urn:uuid fullUrls included), so a re-run adds nothing.
The database comes from DATABASE_URL; KILN_AUTO_PROVENANCE=false records no Provenance.
On SQLite, a load of at least as many resources as are stored builds the search
indexes after the rows (faster); searches meanwhile still answer, more slowly.
Ctrl-C (SIGINT) or SIGTERM stops after the file being written: what is written
commits and the search indexes are rebuilt; a second one stops at once.

  -v, --verbose        print "committed FILE N resources" once each file has committed
      --commit-size N  resources per transaction (default ${DEFAULT_COMMIT_RESOURCES}; 1 = a commit per file)
      --keep-indexes   keep the search indexes in place while loading (for a database
                       that serves searches meanwhile)
  -h, --help           show this help`;

/**
 * `kiln import PATH...`. Exit code 0 when every file loaded, 1 when some failed, 2 for a
 * usage error. A progress line on stderr when it is a terminal; the summary on stdout.
 *
 * See: https://hl7.org/fhir/R4/bundle.html and https://hl7.org/fhir/R4/nd-json.html
 */
export async function runImport(args: string[]): Promise<number> {
  let values: { verbose?: boolean; help?: boolean; 'commit-size'?: string; 'keep-indexes'?: boolean };
  let paths: string[];
  try {
    const parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        verbose: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
        'commit-size': { type: 'string' },
        'keep-indexes': { type: 'boolean' },
      },
    });
    values = parsed.values;
    paths = parsed.positionals;
  } catch (err) {
    console.error(`kiln import: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (paths.length === 0) {
    console.error(`kiln import: name at least one file or folder\n\n${USAGE}`);
    return 2;
  }
  const commitSize = values['commit-size'] === undefined ? DEFAULT_COMMIT_RESOURCES : Number(values['commit-size']);
  if (!Number.isInteger(commitSize) || commitSize < 1) {
    console.error(`kiln import: --commit-size must be a whole number of resources, at least 1\n\n${USAGE}`);
    return 2;
  }
  return importCommand(paths, { verbose: values.verbose === true, commitSize, keepIndexes: values['keep-indexes'] === true });
}

async function importCommand(paths: string[], flags: { verbose: boolean; commitSize: number; keepIndexes: boolean }): Promise<number> {
  const config = loadConfig();
  let files;
  try {
    files = await listImportFiles(paths);
  } catch (err) {
    if (!(err instanceof ImportUsageError)) throw err;
    console.error(`kiln import: ${err.message}`);
    return 2;
  }
  if (files.length === 0) {
    console.error(`kiln import: no .json, .json.gz, .ndjson or .ndjson.gz files in ${paths.join(', ')}`);
    return 2;
  }
  // Loads its definitions while this thread opens the database and scans the files.
  const location = databaseLocation(config.databaseUrl);
  const preparing = location && startPreparing(location, files, { ndjsonChunk: DEFAULT_NDJSON_CHUNK });
  const progress = process.stderr.isTTY ? new ProgressLine(process.stderr) : undefined;
  // Ctrl-C: what is written commits, and the search indexes are rebuilt (exit 130).
  const stopping = stopOnSignals('import', 'stopping after the file being written, then building the search indexes', () => progress?.clear());
  try {
    const app = await openCore({ ...config, logLevel: 'warn' });
    try {
      const summary = await importFiles(app, files, {
        ...outputs(config.autoProvenance, flags.verbose, progress),
        commitResources: flags.commitSize,
        deferIndexes: !flags.keepIndexes,
        preparing,
        signal: stopping.signal,
      });
      progress?.finish();
      console.log(summaryLine(summary));
      if (summary.interrupted) return stopping.exitCode();
      return summary.failed.length > 0 ? 1 : 0;
    } finally {
      await app.close();
    }
  } finally {
    stopping.remove();
    // Already stopped by the import, unless opening the database failed.
    await preparing?.stop();
  }
}

function outputs(autoProvenance: boolean, verbose: boolean, progress: ProgressLine | undefined): ImportOptions {
  return {
    autoProvenance,
    onScan: progress && ((done, total) => progress.scanning(done, total)),
    onProgress: progress && ((p) => progress.update(p)),
    onBuildingIndexes: progress && (() => progress.note('building search indexes')),
    onCommitted: verbose
      ? (file, n, lines) => {
          progress?.clear();
          // Written synchronously, right after the commit and before anything else is loaded.
          process.stdout.write(`${committedLine(file.path, n, lines)}\n`);
        }
      : undefined,
    onFailed: (report) => {
      progress?.clear();
      process.stderr.write(`kiln import: ${failureLine(report)}\n`);
    },
  };
}
