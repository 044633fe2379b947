import { openCore, type Core } from '../core.js';
import type { Config } from '../config.js';
import { refreshStatistics } from '../db/statistics.js';
import { inTransaction } from '../db/transaction.js';
import { turnsEvery } from '../event-loop.js';
import { stopOnSignals } from '../stop-signals.js';
import { deferQueryIndexes } from '../search/deferred-indexes.js';
import { loadResources } from '../service/load.js';
import { WriteSession, type AnyResource } from '../service/types.js';
import { validateResource } from '../validate/index.js';
import { generateSeed, type SeedOptions } from './index.js';

/**
 * Resources the generator writes per patient, rounded down (49,667 for 100 patients with
 * seed 1, about 497 each), for deciding whether to build the search indexes after the
 * rows (search/deferred-indexes.ts).
 */
const RESOURCES_PER_PATIENT = 450;

/** Resources per database transaction while seeding: large enough to amortise commits. */
const TRANSACTION_SIZE = 5000;

/**
 * Writes generated sample data. Each batch carries its own Provenance, so no automatic
 * one is added. Every resource is validated like any other write. A seed at least as
 * large as what is stored builds the search indexes after its rows, as a large import
 * does (search/deferred-indexes.ts).
 */
export async function seed(app: Core, opts: SeedOptions, progress?: (resources: number) => void, signal?: AbortSignal): Promise<number> {
  const deferral = await deferQueryIndexes(app.db, opts.patients * RESOURCES_PER_PATIENT);
  let total: number;
  try {
    total = await writeSeed(app, opts, progress, signal);
  } finally {
    await deferral?.end();
  }
  await refreshStatistics(app.db);
  return total;
}

/** Writes the batches in transactions of about `TRANSACTION_SIZE`; once `signal` is aborted, writes no further transaction. */
async function writeSeed(app: Core, opts: SeedOptions, progress?: (resources: number) => void, signal?: AbortSignal): Promise<number> {
  let pending: AnyResource[] = [];
  let total = 0;
  const turn = turnsEvery(0);
  const flush = async () => {
    const batch = pending;
    pending = [];
    await inTransaction(app.db, (trx) => loadResources(app.resources, new WriteSession(trx, new Date().toISOString()), batch));
    total += batch.length;
    progress?.(total);
    // Timers (the index deferral's renewal) run here.
    await turn();
  };
  for (const batch of generateSeed(opts)) {
    for (const r of batch.resources) {
      validateResource(r, { requireId: true });
      pending.push(r as AnyResource);
    }
    if (pending.length >= TRANSACTION_SIZE) await flush();
    if (signal?.aborted) return total;
  }
  if (pending.length) await flush();
  return total;
}

/** Seeds the small sample set on first start, unless turned off or the database has patients. */
export async function seedIfEmpty(app: Core, config: Config): Promise<void> {
  if (!config.sampleData || config.samplePatients === 0) return;
  const any = await app.db.knex('resources').where({ resource_type: 'Patient' }).first('id');
  if (any) return;
  const n = await seed(app, { patients: config.samplePatients, seed: 1 });
  app.log.info({ resources: n, patients: config.samplePatients }, 'sample data loaded');
}

/** `kiln seed`: writes N patients' worth of sample data and prints progress. */
export async function runSeed(config: Config, opts: SeedOptions): Promise<number> {
  if (!Number.isInteger(opts.patients) || opts.patients < 1) throw new Error('--patients must be a whole number >= 1');
  if (!Number.isInteger(opts.seed)) throw new Error('--seed must be a whole number');
  const app = await openCore({ ...config, logLevel: 'warn' });
  const started = Date.now();
  const clearLine = () => process.stderr.isTTY && process.stderr.write('\n');
  // Ctrl-C: the transaction in flight commits, and the search indexes are rebuilt (exit 130).
  const stopping = stopOnSignals('seed', 'stopping after the transaction being written, then building the search indexes', clearLine);
  try {
    const n = await seed(
      app,
      opts,
      (count) => {
        const rate = Math.round(count / ((Date.now() - started) / 1000 || 1));
        if (process.stderr.isTTY) process.stderr.write(`\r${count} resources, ${rate}/s   `);
      },
      stopping.signal,
    );
    const secs = (Date.now() - started) / 1000;
    clearLine();
    const timing = `${n} resources in ${secs.toFixed(1)} s (${Math.round(n / secs)}/s)`;
    if (!stopping.signal.aborted) {
      console.log(`seeded ${opts.patients} patients: ${timing}`);
      return 0;
    }
    // The same patients and seed always give the same resources, with the same ids.
    console.log(`seeded part of ${opts.patients} patients: ${timing}; interrupted: run the same seed again to write the rest`);
    return stopping.exitCode();
  } finally {
    stopping.remove();
    await app.close();
  }
}
