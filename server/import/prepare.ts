import type { Knex } from 'knex';
import { FhirError } from '../errors.js';
import { searchParamsFor } from '../search/registry.js';
import type { NewVersion } from '../db/store.js';
import { indexBindings, type IndexBindings } from '../search/write.js';
import { stageVersion } from '../service/resources.js';
import { loadValidator, validateResource } from '../validate/index.js';
import { bundleEntries, lineEntry } from './entries.js';
import { BundleReader, readLines } from './files.js';
import { ReferenceResolver } from './resolve.js';
import type { ImportIndex } from './scan.js';
import { ImportFailure, type ImportEntry, type ImportFile } from './types.js';

/**
 * The part of `kiln import` that needs no write transaction: reading each file, giving
 * its entries their ids, resolving their references, validating them and staging each
 * as the version it would be if new (JSON text with `meta` stamped, search index rows).
 * It runs on a thread of its own (`worker.ts`) while the main thread writes what was
 * prepared before (`importer.ts`), so parsing and validation overlap the inserts.
 *
 * What it cannot know without the write transaction, the main thread settles: whether a
 * resource is stored already (then it is renumbered, or left alone when unchanged).
 * References resolve against the import itself (`ImportIndex`) and against what is
 * committed in the database, read through a connection of the preparing thread.
 */

/** One resource of a prepared unit. */
export interface PreparedItem {
  /** A later entry of the import holds the same resource (see `loadPrepared` in load.ts). */
  supersededLater: boolean;
  /** The resource as version 1, stamped at the unit's `now`. */
  version: NewVersion;
}

/** A Bundle file, or a chunk of an NDJSON file, ready to write. */
export interface PreparedUnit {
  /** `meta.lastUpdated` of every version of the unit, and the time of its Provenance. */
  now: string;
  items: PreparedItem[];
  /** The items' index rows, each naming its item by position in place of a key (`setRowKeys`). */
  bindings: IndexBindings;
}

/** A failure as it crosses threads (an `ImportFailure`'s fields). */
export interface FailureData {
  reason: string;
  entry?: string;
  path?: string;
}

/** Where prepared work goes, in import order. */
export interface PrepareSink {
  /** A prepared unit; resolves when the consumer has room for another. */
  unit(file: number, unit: PreparedUnit, resources: number, lines?: string): Promise<void>;
  /** File `file` failed (for NDJSON: from this chunk on; the chunks before it were sent). */
  failed(file: number, failure: FailureData): void;
  /** Everything of file `file` has been sent. */
  fileDone(file: number): void;
}

export interface PrepareOptions {
  /** Resources per NDJSON chunk. */
  ndjsonChunk: number;
}

/** Issues quoted in a failure message; the rest are counted. */
const MAX_ISSUES = 3;

/**
 * Loads what validation and index extraction need (the R4 definitions, the code sets
 * of required bindings, the search parameters) now rather than on first use: a thread
 * that has time to spare while another scans does it then.
 */
export function loadDefinitions(): void {
  loadValidator();
  searchParamsFor('Patient');
}

/**
 * Prepares `files` (the first pass's `index` of them at hand) one unit at a time into
 * `sink`. Never throws for a bad file: the sink hears of it. `db` reads stored
 * resources for reference resolution.
 */
export async function prepareFiles(files: ImportFile[], index: ImportIndex, opts: PrepareOptions, db: Knex, sink: PrepareSink): Promise<void> {
  const resolver = new ReferenceResolver(index);
  const reader = new BundleReader(files);
  for (const file of files) {
    const prepare = async (entries: ImportEntry[], lines?: string) => {
      const unit = await prepareUnit(index, resolver, db, entries);
      await sink.unit(file.index, unit, entries.length, lines);
    };
    try {
      if (file.format === 'bundle') await prepare(bundleEntries(await reader.read(file), file));
      else await prepareLines(file, opts.ndjsonChunk, prepare);
    } catch (err) {
      sink.failed(file.index, failureData(err));
    }
    sink.fileDone(file.index);
  }
}

/** References rewritten, every resource validated as any write is, each staged as a new version. */
export async function prepareUnit(index: ImportIndex, resolver: ReferenceResolver, db: Knex, entries: ImportEntry[]): Promise<PreparedUnit> {
  await resolver.rewrite(db, entries);
  for (const e of entries) validateEntry(e);
  const now = new Date().toISOString();
  const staged = entries.map((e) => stageVersion(e.resource, 1, now, 'POST'));
  return {
    now,
    items: entries.map((e, i) => ({ supersededLater: index.supersededLater(e), version: staged[i].version })),
    bindings: indexBindings(staged.map(({ version, rows }, i) => ({ resourceType: version.resourceType, rid: i, rows }))),
  };
}

/** Streams an NDJSON file, preparing each chunk of `chunk` resources as it fills. */
async function prepareLines(file: ImportFile, chunk: number, prepare: (e: ImportEntry[], lines: string) => Promise<void>): Promise<void> {
  let batch: ImportEntry[] = [];
  let first = 1;
  let lineNo = 0;
  for await (const line of readLines(file)) {
    lineNo++;
    if (line.trim() !== '') batch.push(lineEntry(line, lineNo, file));
    if (batch.length >= chunk) {
      await prepare(batch, `lines ${first}-${lineNo}`);
      batch = [];
      first = lineNo + 1;
    }
  }
  if (batch.length > 0) await prepare(batch, `lines ${first}-${lineNo}`);
}

function validateEntry(e: ImportEntry): void {
  try {
    validateResource(e.resource, { requireId: true });
  } catch (err) {
    if (!(err instanceof FhirError)) throw err;
    const errors = err.issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
    const issues = errors.length > 0 ? errors : err.issues;
    const paths = [...new Set(issues.flatMap((i) => i.expression ?? []))];
    const texts = issues.slice(0, MAX_ISSUES).map((i) => i.diagnostics ?? i.details?.text ?? i.code);
    const more = issues.length > MAX_ISSUES ? ` (and ${issues.length - MAX_ISSUES} more)` : '';
    throw new ImportFailure(`invalid ${e.resource.resourceType}: ${texts.join('; ')}${more}`, e.label, paths.join(', ') || undefined);
  }
}

/**
 * Anything a file can fail with, as a failure of that file: an `ImportFailure` as it is,
 * a `FhirError` (a 409 from a concurrent writer), a read or database error by its message.
 */
export function asFailure(err: unknown): ImportFailure {
  if (err instanceof ImportFailure) return err;
  if (err instanceof FhirError) return new ImportFailure(err.message);
  const e = err as { code?: string; message?: string };
  return new ImportFailure(e?.message ? `${e.code ? `${e.code}: ` : ''}${e.message}` : String(err));
}

function failureData(err: unknown): FailureData {
  const f = asFailure(err);
  return { reason: f.reason, entry: f.entry, path: f.path };
}

/** The `ImportFailure` a `FailureData` came from. */
export function fromFailureData(d: FailureData): ImportFailure {
  return new ImportFailure(d.reason, d.entry, d.path);
}
