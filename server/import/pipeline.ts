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
  | { type: 'unit'; file: number; unit: PreparedUnit; resources: number; lines?: string }
  | { type: 'failed'; file: number; failure: FailureData }
  | { type: 'file-done'; file: number }
  | { type: 'done' };

/** What `preparedUnits` yields: every message but the last. */
export type PreparedMessage = Exclude<ToMain, { type: 'done' }>;

/**
 * Messages to the preparing thread: the first pass's index with the custom search
 * parameters in use (once, first), then room for `credit` more units.
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
 * definitions (about half a second) while this thread opens the database and scans
 * the files, then waits for `preparedUnits` to send it the index. `stop` ends a thread
 * that will not be used.
 */
export class PreparingThread {
  private readonly worker: Worker;
  private readonly queue: ToMain[] = [];
  private failure: Error | undefined;
  private exited = false;
  private used = false;
  private wake: (() => void) | undefined;

  constructor(
    readonly files: readonly ImportFile[],
    readonly options: PrepareOptions,
    location: DatabaseLocation,
  ) {
    const input: WorkerInput = { files: [...files], options, location };
    this.worker = new Worker(workerEntry(), { workerData: input });
    this.worker.on('message', (m: ToMain) => {
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
   * Sends the index `scan` made (with this thread's custom search parameters), then
   * yields what the thread sends, in order; leaving the loop early stops the thread.
   * Throws if the thread fails (not a file: the thread reports a bad file as a message).
   * A thread serves one pass.
   */
  async *units(scan: () => Promise<ImportIndex>): AsyncGenerator<PreparedMessage> {
    if (this.used) throw new Error('a preparing thread serves one pass');
    this.used = true;
    let done = false;
    try {
      const index = await scan();
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
 * definitions while `scan` (the first pass) runs here, then prepares the files with the
 * index `scan` made, and yields what the thread sends (`PreparingThread.units`).
 */
export function preparedUnits(
  location: DatabaseLocation | undefined,
  files: ImportFile[],
  options: PrepareOptions,
  scan: () => Promise<ImportIndex>,
): AsyncGenerator<PreparedMessage> {
  return startPreparing(location, files, options).units(scan);
}

/** A preparing thread for `files` (`PreparingThread`); an in-memory database cannot be shared with one. */
export function startPreparing(location: DatabaseLocation | undefined, files: readonly ImportFile[], options: PrepareOptions): PreparingThread {
  if (!location) throw new Error('kiln import needs a database file or PostgreSQL, not an in-memory database');
  return new PreparingThread(files, options, location);
}
