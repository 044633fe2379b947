import type { Core } from '../core.js';
import { refreshStatistics } from '../db/statistics.js';
import { turnsEvery } from '../event-loop.js';
import { deferQueryIndexes, type IndexDeferral } from '../search/deferred-indexes.js';
import { withBulkCheckpoints } from './checkpoints.js';
import { listImportFiles } from './files.js';
import { CommitFailed, CommitGroup } from './group.js';
import { loadPrepared, type LoadContext } from './load.js';
import { preparedUnits, type PreparingThread, type ScanShare } from './pipeline.js';
import { asFailure, fromFailureData, type PreparedUnit } from './prepare.js';
import { scanFiles } from './scan.js';
import type { ImportFailure, ImportFile } from './types.js';

/**
 * `kiln import`: loads FHIR Bundles and NDJSON files into the database.
 *
 * Two passes. The first reads every file once and records fullUrls, identifiers and
 * where each resource occurs (`scanFiles`), so references resolve across files in any
 * order. The second loads the files one at a time:
 * - a Bundle file as one unit: a failing file leaves nothing of itself, the files
 *   before it stay loaded, the import goes on with the next file;
 * - an NDJSON file in chunks of `ndjsonChunk` resources, one unit each, since such a
 *   file may be far larger than memory: a failing chunk leaves nothing of itself but
 *   the chunks before it stay, and the rest of the file is not loaded.
 * Consecutive units share a transaction (`CommitGroup`), and are reported once that
 * transaction has committed. The second pass's reading, and each unit's resolution,
 * validation and staging, run on a thread of their own (prepare.ts, pipeline.ts),
 * ahead of the main thread, which writes; that thread also scans the later half of the
 * files in the first pass (`ScanShare`).
 *
 * See: https://hl7.org/fhir/R4/bundle.html, https://hl7.org/fhir/R4/nd-json.html and
 * https://hl7.org/fhir/uv/bulkdata/
 */

export interface ImportOptions {
  /** One Provenance per file (or NDJSON chunk), naming everything it wrote (`KILN_AUTO_PROVENANCE`). */
  autoProvenance: boolean;
  /** Resources per NDJSON chunk (the unit that loads or fails as a whole). */
  ndjsonChunk?: number;
  /** Resources after which the shared transaction commits (a file or chunk is never split). */
  commitResources?: number;
  /**
   * False keeps the search tables' query indexes in place while loading
   * (`kiln import --keep-indexes`); by default a large load builds them afterwards
   * (search/deferred-indexes.ts).
   */
  deferIndexes?: boolean;
  /**
   * A preparing thread the caller started for the same files, with the same NDJSON
   * chunk size (`startPreparing`), before opening the database, so that it has loaded
   * its definitions and scanned its share of the files by the time this thread has
   * scanned its own; by default the import starts
   * one when it begins. The import stops it whatever happens.
   */
  preparing?: PreparingThread;
  /**
   * Stops the import early (`kiln import` on SIGINT or SIGTERM): no further unit is
   * written, the units written so far commit, and the query indexes are built as after
   * any load. The summary says it was interrupted.
   */
  signal?: AbortSignal;
  /** When the load is done and the query indexes it left out are being built. */
  onBuildingIndexes?: () => void;
  /** After each file of the first pass. */
  onScan?: (filesScanned: number, filesTotal: number) => void;
  /** After each commit and each failed file. */
  onProgress?: (p: ImportProgress) => void;
  /** As soon as a transaction has committed (`kiln import --verbose`). */
  onCommitted?: (file: ImportFile, resources: number, lines?: string) => void;
  /** As soon as a file has failed. */
  onFailed?: (report: FileReport) => void;
}

export interface ImportProgress {
  filesDone: number;
  filesTotal: number;
  resourcesDone: number;
  /** Resources in all files, from the first pass. */
  resourcesTotal: number;
  /** `Date.now()` when the import started. */
  startedAt: number;
}

/** The outcome of one file. */
export interface FileReport {
  file: ImportFile;
  /** Resources committed: written, or already stored as they are. */
  resources: number;
  /** New versions written. */
  written: number;
  failure?: ImportFailure;
}

export interface ImportSummary {
  files: FileReport[];
  resources: number;
  written: number;
  failed: FileReport[];
  seconds: number;
  /** The NDJSON chunk size when NDJSON files were imported (their commits are per chunk). */
  ndjsonChunk?: number;
  /** True when `ImportOptions.signal` stopped the import before every file was read. */
  interrupted: boolean;
}

/** Resources per NDJSON chunk: what a failing line takes down with it. */
export const DEFAULT_NDJSON_CHUNK = 2000;

/** How often the load lets timers and signal handlers run, at least (`turnsEvery`). */
const TURN_MS = 50;

/** Resources per commit: large enough to amortise it (see `CommitGroup`), small enough to keep it short. */
export const DEFAULT_COMMIT_RESOURCES = 5000;

/** Imports the files and folders named by `paths` (see `listImportFiles` for the order). */
export async function importPaths(app: Core, paths: string[], opts: ImportOptions): Promise<ImportSummary> {
  return importFiles(app, await listImportFiles(paths), opts);
}

/** Imports `files` in order; never throws for a bad file, the summary names it. */
export async function importFiles(app: Core, files: ImportFile[], opts: ImportOptions): Promise<ImportSummary> {
  try {
    return await importInOrder(app, files, opts);
  } finally {
    await opts.preparing?.stop();
  }
}

async function importInOrder(app: Core, files: ImportFile[], opts: ImportOptions): Promise<ImportSummary> {
  const startedAt = Date.now();
  const ctx: LoadContext = { app, autoProvenance: opts.autoProvenance };
  const chunk = opts.ndjsonChunk ?? DEFAULT_NDJSON_CHUNK;
  // Units come checked (prepare.ts): what fails in the group fails while writing.
  const group = new CommitGroup<Unit>(app.db, opts.commitResources ?? DEFAULT_COMMIT_RESOURCES);
  const reports = files.map((file): FileReport => ({ file, resources: 0, written: 0 }));
  let filesDone = 0;
  let resourcesDone = 0;
  let resourcesTotal = 0;
  const progress = () => opts.onProgress?.({ filesDone, filesTotal: files.length, resourcesDone, resourcesTotal, startedAt });
  const fail = (report: FileReport, err: unknown) => {
    if (report.failure) return;
    report.failure = asFailure(err);
    opts.onFailed?.(report);
  };
  /** Commits the group; reports its units as committed, or their files as failed. */
  const commit = async () => {
    let units: Unit[];
    try {
      units = await group.commit();
    } catch (err) {
      if (!(err instanceof CommitFailed)) throw err;
      for (const u of err.pending as Unit[]) fail(u.report, err.cause);
      return;
    }
    // A unit of a file that failed later (a bad NDJSON chunk) stays, as the units before it.
    for (const u of units) {
      u.report.resources += u.resources;
      u.report.written += u.written;
      resourcesDone += u.resources;
      opts.onCommitted?.(u.report.file, u.resources, u.lines);
    }
    progress();
  };
  /** Writes one prepared unit into the group; a unit of a file that failed already is not loaded. */
  const load = async (report: FileReport, unit: PreparedUnit, resources: number, lines?: string) => {
    if (report.failure) return;
    try {
      await group.run({
        resources,
        load: (trx) => loadPrepared(ctx, trx, report.file, unit),
        done: ({ written }) => ({ report, resources, written, lines }),
        failed: (err) => fail(report, err),
      });
    } catch (err) {
      fail(report, err);
    }
    if (group.due) await commit();
  };
  let deferral: IndexDeferral | undefined;
  let interrupted = false;
  const turn = turnsEvery(TURN_MS);
  await withBulkCheckpoints(app.db, async () => {
    try {
      const scan = async (share: ScanShare) => {
        const index = await scanFiles(share.mine, (n) => opts.onScan?.(n, files.length));
        resourcesTotal = index.resources + (await share.theirs());
        opts.onScan?.(files.length, files.length);
        // Before the preparing thread resolves anything: it looks identifiers up meanwhile.
        if (opts.deferIndexes !== false) deferral = await deferQueryIndexes(app.db, resourcesTotal);
        return index;
      };
      const thread = opts.preparing;
      if (thread && !startedFor(thread, files, chunk)) throw new Error('the preparing thread was started for other files or another chunk size');
      const units = thread ? thread.units(scan) : preparedUnits(app.db.location, files, { ndjsonChunk: chunk }, scan);
      for await (const m of units) {
        // Timers (the deferral's renewal) and signals (`kiln import` on Ctrl-C) run here.
        await turn();
        // Leaving the loop stops the preparing thread; what was written commits below.
        // A file's failure that was found already is still reported.
        if (opts.signal?.aborted && m.type === 'unit') {
          interrupted = true;
          break;
        }
        if (m.type === 'unit') await load(reports[m.file], m.unit, m.resources, m.lines);
        else if (m.type === 'failed') fail(reports[m.file], fromFailureData(m.failure));
        else if (m.type === 'file-done') {
          filesDone++;
          progress();
        }
      }
      await commit();
    } finally {
      await group.abandon();
      if (deferral) {
        opts.onBuildingIndexes?.();
        await deferral.end();
      }
    }
  });
  await refreshStatistics(app.db);
  return summarize(reports, startedAt, files.some((f) => f.format === 'ndjson') ? chunk : undefined, interrupted);
}

/** True when `thread` was started for these files, in this order, with this NDJSON chunk size. */
function startedFor(thread: PreparingThread, files: ImportFile[], chunk: number): boolean {
  return thread.options.ndjsonChunk === chunk && thread.files.length === files.length && thread.files.every((f, i) => f.path === files[i].path);
}

/** One loaded Bundle file or NDJSON chunk, waiting for its group to commit. */
interface Unit {
  report: FileReport;
  resources: number;
  written: number;
  lines?: string;
}

function summarize(files: FileReport[], startedAt: number, ndjsonChunk: number | undefined, interrupted: boolean): ImportSummary {
  const failed = files.filter((f) => f.failure);
  return {
    files,
    resources: files.reduce((n, f) => n + f.resources, 0),
    written: files.reduce((n, f) => n + f.written, 0),
    failed,
    seconds: (Date.now() - startedAt) / 1000,
    ndjsonChunk,
    interrupted,
  };
}
