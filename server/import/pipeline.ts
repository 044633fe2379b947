import { statSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { SearchParameter } from 'fhir/r4';
import type { DatabaseLocation } from '../db/connect.js';
import { customSearchParameters } from '../search/registry.js';
import type { FailureData, PrepareOptions, PreparedUnit } from './prepare.js';
import type { ImportIndex, ImportIndexData } from './scan.js';
import type { ImportFile } from './types.js';
import type { WorkerInput } from './worker.js';

/**
 * The main thread's end of the import's preparing thread (prepare.ts, worker.ts).
 *
 * An import is two kinds of work of about equal size: JavaScript (parsing, validation,
 * index extraction, serialisation) and SQLite executing the inserts. On one thread they
 * take turns; here the preparing thread works on the next units while the main thread
 * writes the current one, so a machine with two cores runs both at once
 * (docs/benchmarks.md, ingest). The preparing thread stays at most `AHEAD` units ahead,
 * which bounds the memory prepared units hold.
 */

/** Messages from the preparing thread, in the order it sends them. */
export type ToMain =
  | { type: 'scanned'; resources: number }
  | { type: 'unit'; file: number; unit: PreparedUnit; resources: number; lines?: string }
  | { type: 'failed'; file: number; failure: FailureData }
  | { type: 'file-done'; file: number }
  | { type: 'done' };

/** What `preparedUnits` yields: every message but the first and the last. */
export type PreparedMessage = Exclude<ToMain, { type: 'done' } | { type: 'scanned' }>;

/**
 * The first pass is shared: the preparing thread scans the later files once it has
 * loaded its definitions, while this thread scans the earlier ones (`mine`) once it has
 * opened the database; this thread's index then goes to the
 * preparing thread, which merges the two. Split by bytes, each half takes about as
 * long, and the writing starts about when the slower half is done instead of after the
 * whole pass on this thread (docs/benchmarks.md, ingest).
 */
export interface ScanShare {
  /** The files this thread scans. */
  mine: ImportFile[];
  /** Resolves to the number of resources in the preparing thread's files, once it has scanned them. */
  theirs(): Promise<number>;
}

/**
 * Messages to the preparing thread: this thread's part of the first pass's index, with
 * the custom search parameters in use (once, first), then room for `credit` more units.
 */
export type ToWorker = { index: ImportIndexData; searchParameters: readonly SearchParameter[] } | { credit: number };

/** Units prepared ahead of the one being written. */
const AHEAD = 2;

/** Where the preparing thread's code is, compiled or (tests, benchmarks) from the sources. */
function workerEntry(): URL {
  const fromSources = import.meta.url.endsWith('.ts');
  return new URL(fromSources ? './worker-source.mjs' : './worker.js', import.meta.url);
}

/**
 * A preparing thread for `files`, started as soon as they are known: it loads its
 * definitions and scans its share of the files (`ScanShare`) while this thread opens the
 * database and scans the rest, then waits for `units` to send it this thread's part of
 * the index. `stop` ends a thread that will not be used.
 */
export class PreparingThread {
  private readonly worker: Worker;
  private readonly queue: Exclude<ToMain, { type: 'scanned' }>[] = [];
  private failure: Error | undefined;
  private exited = false;
  private used = false;
  private wake: (() => void) | undefined;
  /** The first file the preparing thread scans (see `ScanShare`). */
  private readonly scanFrom: number;
  private readonly scanned: Promise<number>;

  constructor(
    readonly files: readonly ImportFile[],
    readonly options: PrepareOptions,
    location: DatabaseLocation,
  ) {
    this.scanFrom = halfway(files);
    const input: WorkerInput = { files: [...files], options, location, scanFrom: this.scanFrom };
    this.worker = new Worker(workerEntry(), { workerData: input });
    let scanned: (resources: number) => void = () => undefined;
    let notScanned: (err: Error) => void = () => undefined;
    this.scanned = new Promise<number>((resolve, reject) => ([scanned, notScanned] = [resolve, reject]));
    this.scanned.catch(() => undefined);
    this.worker.on('message', (m: ToMain) => {
      if (m.type === 'scanned') return scanned(m.resources);
      this.queue.push(m);
      this.notify();
    });
    this.worker.on('error', (err) => {
      this.failure ??= err;
      this.notify();
    });
    this.worker.on('exit', (code) => {
      this.exited = true;
      if (code !== 0) this.failure ??= new Error(`the import's preparing thread exited with code ${code}`);
      // Settled already when the thread had scanned its files.
      notScanned(this.failure ?? new Error("the import's preparing thread stopped before it had scanned its files"));
      this.notify();
    });
  }

  private notify(): void {
    this.wake?.();
    this.wake = undefined;
  }

  /** Ends the thread at once (it may be in the middle of a unit). */
  async stop(): Promise<void> {
    if (!this.exited) await this.worker.terminate();
  }

  /**
   * Sends the index `scan` made of this thread's share of the files (with this thread's
   * custom search parameters), then yields what the thread sends, in order; leaving the
   * loop early stops the thread. Throws if the thread fails (not a file: the thread
   * reports a bad file as a message). A thread serves one pass.
   */
  async *units(scan: (share: ScanShare) => Promise<ImportIndex>): AsyncGenerator<PreparedMessage> {
    if (this.used) throw new Error('a preparing thread serves one pass');
    this.used = true;
    let done = false;
    try {
      const index = await scan({ mine: this.files.slice(0, this.scanFrom), theirs: () => this.scanned });
      this.worker.postMessage({ index: index.data(), searchParameters: customSearchParameters() } satisfies ToWorker);
      this.worker.postMessage({ credit: AHEAD } satisfies ToWorker);
      for (;;) {
        const m = this.queue.shift();
        if (m === undefined) {
          if (this.failure) throw this.failure;
          if (this.exited) throw new Error("the import's preparing thread stopped before it was done");
          await new Promise<void>((resolve) => (this.wake = resolve));
          continue;
        }
        if (m.type === 'done') {
          done = true;
          return;
        }
        if (m.type === 'unit') this.worker.postMessage({ credit: 1 } satisfies ToWorker);
        yield m;
      }
    } finally {
      // Done: the thread is closing its connection and exits on its own.
      if (done && !this.exited) await new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
      else await this.stop();
    }
  }
}

/**
 * Starts a preparing thread for `files` on the database at `location`, which loads its
 * definitions and scans its share of the files while `scan` scans this thread's share,
 * then prepares the files with both parts of the index, and yields what the thread sends
 * (`PreparingThread.units`).
 */
export function preparedUnits(
  location: DatabaseLocation | undefined,
  files: ImportFile[],
  options: PrepareOptions,
  scan: (share: ScanShare) => Promise<ImportIndex>,
): AsyncGenerator<PreparedMessage> {
  return startPreparing(location, files, options).units(scan);
}

/** A preparing thread for `files` (`PreparingThread`); an in-memory database cannot be shared with one. */
export function startPreparing(location: DatabaseLocation | undefined, files: readonly ImportFile[], options: PrepareOptions): PreparingThread {
  if (!location) throw new Error('kiln import needs a database file or PostgreSQL, not an in-memory database');
  return new PreparingThread(files, options, location);
}

/**
 * Where the preparing thread's share of the first pass begins: the first file past half
 * of the bytes (files this thread cannot size count as empty). This thread keeps the
 * first file, so that one file is scanned here, as before.
 */
function halfway(files: readonly ImportFile[]): number {
  const sizes = files.map((f) => {
    try {
      return statSync(f.path).size;
    } catch {
      return 0;
    }
  });
  const total = sizes.reduce((a, b) => a + b, 0);
  let sum = 0;
  for (let i = 0; i < files.length; i++) {
    sum += sizes[i];
    if (sum * 2 >= total) return i + 1;
  }
  return files.length;
}
