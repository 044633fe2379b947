import type { AnyResource } from '../service/types.js';

/**
 * Shared shapes of `kiln import`: the files it reads, the entries it finds in them and
 * the failures it reports.
 *
 * See: https://hl7.org/fhir/R4/bundle.html and https://hl7.org/fhir/R4/nd-json.html
 */

/** A FHIR Bundle (`.json`, `.json.gz`) or newline-delimited JSON (`.ndjson`, `.ndjson.gz`). */
export type FileFormat = 'bundle' | 'ndjson';

/** One file of an import, in the order the import loads them. */
export interface ImportFile {
  /** The path as found (the folder given on the command line joined with the names below it). */
  path: string;
  format: FileFormat;
  gzip: boolean;
  /** Position in the import, from 0: orders entries across files (see `ImportEntry.ordinal`). */
  index: number;
}

/** One resource read from a file, its id already decided. */
export interface ImportEntry {
  /** Where it is in its file, as a person looks for it: `entry 3` (Bundle.entry, from 0) or `line 7` (from 1). */
  label: string;
  /**
   * Position in the whole import (file index, then entry index), so that of two
   * entries holding the same resource the import knows which comes last.
   */
  ordinal: number;
  /** Bundle.entry.fullUrl, the name other entries use to reference this one. */
  fullUrl: string | undefined;
  /** The resource, with `id` set to the id it is stored under. */
  resource: AnyResource;
}

/** Bundle entries per file in `ordinal`: 2^32 leaves room for any entry count a file can hold. */
const ENTRIES_PER_FILE = 2 ** 32;

/** The import-wide position of entry `entryIndex` of file `fileIndex`. */
export function ordinalOf(file: ImportFile, entryIndex: number): number {
  return file.index * ENTRIES_PER_FILE + entryIndex;
}

/**
 * Why a file (or, for NDJSON, a chunk of it) could not be loaded: which entry, which
 * element (a FHIRPath such as `Observation.subject.reference`) and what is wrong.
 */
export class ImportFailure extends Error {
  constructor(
    readonly reason: string,
    /** `entry 3` / `line 7`; undefined when the file as a whole is at fault. */
    readonly entry?: string,
    /** The element at fault, when one is known. */
    readonly path?: string,
  ) {
    super([entry, path, reason].filter(Boolean).join(': '));
    this.name = 'ImportFailure';
  }
}

/** A mistake on the command line (a missing path, a file that is not an import file). */
export class ImportUsageError extends Error {
  override name = 'ImportUsageError';
}
