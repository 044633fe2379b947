import { Worker } from 'node:worker_threads';
import type { Database } from '../db/connect.js';
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

/** Messages to the preparing thread: the first pass's index (once, first), then room for `credit` more units. */
export type ToWorker = { index: ImportIndexData } | { credit: number };

/** Units prepared ahead of the one being written. */
const AHEAD = 2;

/** Where the preparing thread's code is, compiled or (tests, benchmarks) from the sources. */
function workerEntry(): URL {
  const fromSources = import.meta.url.endsWith('.ts');
  return new URL(fromSources ? './worker-source.mjs' : './worker.js', import.meta.url);
}

/**
 * Starts the preparing thread for `files`, which loads its definitions while `scan`
 * (the first pass) runs here, then prepares the files with the index `scan` made.
 * Yields what the thread sends, in order; leaving the loop early stops the thread.
 * Throws if the thread fails (not a file: the thread reports a bad file as a message).
 */
export async function* preparedUnits(
  db: Database,
  files: ImportFile[],
  options: PrepareOptions,
  scan: () => Promise<ImportIndex>,
): AsyncGenerator<PreparedMessage> {
  if (!db.location) throw new Error('kiln import needs a database file or PostgreSQL, not an in-memory database');
  const input: WorkerInput = { files, options, location: db.location, searchParameters: customSearchParameters() };
  const worker = new Worker(workerEntry(), { workerData: input });
  const queue: ToMain[] = [];
  let failure: Error | undefined;
  let exited = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  worker.on('message', (m: ToMain) => {
    queue.push(m);
    notify();
  });
  worker.on('error', (err) => {
    failure ??= err;
    notify();
  });
  worker.on('exit', (code) => {
    exited = true;
    if (code !== 0) failure ??= new Error(`the import's preparing thread exited with code ${code}`);
    notify();
  });
  let done = false;
  try {
    worker.postMessage({ index: (await scan()).data() } satisfies ToWorker);
    worker.postMessage({ credit: AHEAD } satisfies ToWorker);
    for (;;) {
      const m = queue.shift();
      if (m === undefined) {
        if (failure) throw failure;
        if (exited) throw new Error("the import's preparing thread stopped before it was done");
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      if (m.type === 'done') {
        done = true;
        return;
      }
      if (m.type === 'unit') worker.postMessage({ credit: 1 } satisfies ToWorker);
      yield m;
    }
  } finally {
    // Done: the thread is closing its connection and exits on its own.
    if (done && !exited) await new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    else if (!exited) await worker.terminate();
  }
}
