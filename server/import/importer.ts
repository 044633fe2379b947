import type { Core } from '../core.js';
import { refreshStatistics } from '../db/statistics.js';
import { FhirError } from '../errors.js';
import { withBulkCheckpoints } from './checkpoints.js';
import { bundleEntries, lineEntry } from './entries.js';
import { BundleReader, listImportFiles, readLines } from './files.js';
import { CommitFailed, CommitGroup } from './group.js';
import { loadBatch, prepareBatch, type LoadContext } from './load.js';
import { ReferenceResolver } from './resolve.js';
import { scanFiles } from './scan.js';
import { ImportFailure, type ImportEntry, type ImportFile } from './types.js';

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
 * transaction has committed.
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
}

/** Resources per NDJSON chunk: what a failing line takes down with it. */
export const DEFAULT_NDJSON_CHUNK = 2000;

/** Resources per commit: large enough to amortise it (see `CommitGroup`), small enough to keep it short. */
export const DEFAULT_COMMIT_RESOURCES = 5000;

/** Imports the files and folders named by `paths` (see `listImportFiles` for the order). */
export async function importPaths(app: Core, paths: string[], opts: ImportOptions): Promise<ImportSummary> {
  return importFiles(app, await listImportFiles(paths), opts);
}

/** Imports `files` in order; never throws for a bad file, the summary names it. */
export async function importFiles(app: Core, files: ImportFile[], opts: ImportOptions): Promise<ImportSummary> {
  const startedAt = Date.now();
  const index = await scanFiles(files, (n) => opts.onScan?.(n, files.length));
  const ctx: LoadContext = { app, index, resolver: new ReferenceResolver(index), autoProvenance: opts.autoProvenance };
  const reader = new BundleReader(files);
  const chunk = opts.ndjsonChunk ?? DEFAULT_NDJSON_CHUNK;
  // A failed check (ImportFailure) leaves the transaction as it was; anything else may not.
  const group = new CommitGroup<Unit>(app.db, opts.commitResources ?? DEFAULT_COMMIT_RESOURCES, undefined, (err) => err instanceof ImportFailure);
  const reports = files.map((file): FileReport => ({ file, resources: 0, written: 0 }));
  let filesDone = 0;
  let resourcesDone = 0;
  const progress = () =>
    opts.onProgress?.({ filesDone, filesTotal: files.length, resourcesDone, resourcesTotal: index.resources, startedAt });
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
  await withBulkCheckpoints(app.db, async () => {
    try {
      for (const report of reports) {
        try {
          await importFile(ctx, group, reader, report, chunk, fail, async () => {
            if (group.due) await commit();
          });
        } catch (err) {
          fail(report, err);
        }
        filesDone++;
        progress();
      }
      await commit();
    } finally {
      await group.abandon();
    }
  });
  await refreshStatistics(app.db);
  return summarize(reports, startedAt, files.some((f) => f.format === 'ndjson') ? chunk : undefined);
}

/** One loaded Bundle file or NDJSON chunk, waiting for its group to commit. */
interface Unit {
  report: FileReport;
  resources: number;
  written: number;
  lines?: string;
}

/**
 * Loads one file into the group: a Bundle as one unit, an NDJSON file chunk by chunk.
 * `between` runs after each unit (the group may commit there). Throws what failed.
 */
async function importFile(
  ctx: LoadContext,
  group: CommitGroup<Unit>,
  reader: BundleReader,
  report: FileReport,
  chunk: number,
  fail: (report: FileReport, err: unknown) => void,
  between: () => Promise<void>,
): Promise<void> {
  const { file } = report;
  const load = async (entries: ImportEntry[], lines?: string) => {
    await group.run({
      resources: entries.length,
      prepare: (trx) => prepareBatch(ctx, trx, entries),
      load: (trx) => loadBatch(ctx, trx, file, entries),
      done: ({ written }) => ({ report, resources: entries.length, written, lines }),
      failed: (err) => fail(report, err),
    });
    await between();
  };
  if (file.format === 'bundle') await load(bundleEntries(await reader.read(file), file));
  else await loadLines(file, chunk, load);
}

/** Streams an NDJSON file, loading each chunk of `chunk` resources as it fills. */
async function loadLines(file: ImportFile, chunk: number, load: (e: ImportEntry[], lines: string) => Promise<void>): Promise<void> {
  let batch: ImportEntry[] = [];
  let first = 1;
  let lineNo = 0;
  for await (const line of readLines(file)) {
    lineNo++;
    if (line.trim() !== '') batch.push(lineEntry(line, lineNo, file));
    if (batch.length >= chunk) {
      await load(batch, `lines ${first}-${lineNo}`);
      batch = [];
      first = lineNo + 1;
    }
  }
  if (batch.length > 0) await load(batch, `lines ${first}-${lineNo}`);
}

/**
 * Anything a file can fail with, as a failure of that file: an `ImportFailure` as it is,
 * a `FhirError` (a 409 from a concurrent writer), a read or database error by its message.
 */
function asFailure(err: unknown): ImportFailure {
  if (err instanceof ImportFailure) return err;
  if (err instanceof FhirError) return new ImportFailure(err.message);
  const e = err as { code?: string; message?: string };
  return new ImportFailure(e?.message ? `${e.code ? `${e.code}: ` : ''}${e.message}` : String(err));
}

function summarize(files: FileReport[], startedAt: number, ndjsonChunk: number | undefined): ImportSummary {
  const failed = files.filter((f) => f.failure);
  return {
    files,
    resources: files.reduce((n, f) => n + f.resources, 0),
    written: files.reduce((n, f) => n + f.written, 0),
    failed,
    seconds: (Date.now() - startedAt) / 1000,
    ndjsonChunk,
  };
}
