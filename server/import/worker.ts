import { parentPort, workerData } from 'node:worker_threads';
import { connect, type DatabaseLocation } from '../db/connect.js';
import { useCustomSearchParameters } from '../search/registry.js';
import { loadDefinitions, prepareFiles, type PrepareOptions } from './prepare.js';
import { scanFiles, type ImportIndexData } from './scan.js';
import type { ImportFile } from './types.js';
import type { ToMain, ToWorker } from './pipeline.js';

/**
 * The preparing thread of `kiln import` (see prepare.ts and pipeline.ts): once the main
 * thread has sent the first pass's index, it reads, resolves, validates and stages the
 * files in order, and posts each unit to the main thread, never more than the main
 * thread has asked for.
 */

export interface WorkerInput {
  files: ImportFile[];
  options: PrepareOptions;
  location: DatabaseLocation;
  /** The first file of this thread's share of the first pass (pipeline.ts `ScanShare`). */
  scanFrom: number;
}

const port = parentPort;
if (!port) throw new Error('server/import/worker.ts runs as a worker thread');
const input = workerData as WorkerInput;
const post = (m: ToMain) => port.postMessage(m);

/** The main thread's part of the first pass's index, once sent. */
let theirs: ImportIndexData | undefined;
let credit = 0;
let wake: (() => void) | undefined;
port.on('message', (m: ToWorker) => {
  if ('index' in m) {
    // The main thread's custom SearchParameters (known once it has opened the
    // database), so that both threads index alike.
    useCustomSearchParameters(m.searchParameters);
    theirs = m.index;
  } else credit += m.credit;
  wake?.();
});
const until = async (ready: () => boolean) => {
  while (!ready()) await new Promise<void>((resolve) => (wake = resolve));
};

// While the main thread opens the database and scans its share of the files.
loadDefinitions();
const db = connect(input.location.url, { schema: input.location.schema, poolMax: 1 });
try {
  const index = await scanFiles(input.files.slice(input.scanFrom));
  post({ type: 'scanned', resources: index.resources });
  await until(() => theirs !== undefined);
  index.merge(theirs as ImportIndexData);
  await prepareFiles(input.files, index, input.options, db.knex, {
    unit: async (file, unit, resources, lines) => {
      await until(() => credit > 0);
      credit--;
      post({ type: 'unit', file, unit, resources, lines });
    },
    failed: (file, failure) => post({ type: 'failed', file, failure }),
    fileDone: (file) => post({ type: 'file-done', file }),
  });
  post({ type: 'done' });
} finally {
  await db.close();
  port.close();
}
