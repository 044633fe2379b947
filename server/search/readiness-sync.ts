import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Database } from '../db/connect.js';
import { lockCriteria, inTransaction } from '../db/transaction.js';
import { applySearchParameterConfig } from './custom-params.js';
import { BASELINE_FORMAT, ReadinessTracker, trackedFingerprints } from './readiness.js';
import { bumpEpoch, readStatusRows, STATUS_TABLE, upsertStatusRows, type StatusRow } from './readiness-table.js';

/**
 * Start-up: the registry's definitions compared with those the stored index was built
 * by (`search_param_status`). A parameter that is new or whose definition changed is
 * `backfilling` until `kiln reindex` has rebuilt its rows, but only where resources of
 * its type are stored: on an empty type (and an empty database) it is ready at once.
 *
 * The first time a database meets this table (a new database, or one indexed before the
 * table existed), every current definition is recorded as ready, as built by the index
 * formats of that time (`BASELINE_FORMAT`): the index was built by them. Parameter types
 * whose format changed since then are compared as changed. After upgrading with changed
 * definitions at the same time, run `kiln reindex --all`.
 */

/** What a comparison found. */
export interface SyncReport {
  /** True when the table was empty and the current definitions were recorded as they are. */
  baseline: boolean;
  /** Parameters waiting for `kiln reindex`, as `Type.code`. */
  backfilling: string[];
}

/** True when a current resource of `type` is stored. */
export async function hasResources(exec: Knex | Knex.Transaction, type: string): Promise<boolean> {
  return (await exec('resources').select('id').where('resource_type', type).where('deleted', false).first()) !== undefined;
}

/** Compares the definitions with the table and records the differences, in one transaction. */
export async function syncSearchParamStatus(db: Database, now = new Date().toISOString()): Promise<SyncReport> {
  return inTransaction(db, async (trx) => {
    // Processes starting together on one PostgreSQL database compare one after another.
    await lockCriteria(db, trx, `kiln:${STATUS_TABLE}`);
    const rows = await readStatusRows(trx);
    const baseline = rows.length === 0;
    if (baseline) {
      for (const [type, codes] of trackedFingerprints(BASELINE_FORMAT)) for (const [code, fp] of codes) rows.push(row(type, code, fp, 'ready', now));
      await upsertStatusRows(trx, rows);
      await bumpEpoch(trx);
    }
    const tracked = trackedFingerprints();
    const changes = await compare(trx, rows, tracked, now);
    if (changes.upserts.length > 0 || changes.removed.length > 0) {
      await upsertStatusRows(trx, changes.upserts);
      for (const r of changes.removed) await trx(STATUS_TABLE).where({ resource_type: r.resource_type, code: r.code }).delete();
      await bumpEpoch(trx);
    }
    const backfilling = [...rows.filter((r) => r.state === 'backfilling' && !changes.keys.has(key(r))), ...changes.upserts.filter((r) => r.state === 'backfilling')];
    return { baseline, backfilling: backfilling.map((r) => `${r.resource_type}.${r.code}`).sort() };
  });
}

function row(type: string, code: string, fp: string, state: StatusRow['state'], now: string): StatusRow {
  return { resource_type: type, code, fingerprint: fp, state, cursor_id: null, updated_at: now };
}

function key(r: { resource_type: string; code: string }): string {
  return `${r.resource_type}\u0000${r.code}`;
}

/**
 * The rows to write: new or changed definitions (backfilling where resources exist,
 * else ready), backfills of types that no longer hold resources (ready), and rows of
 * parameters no longer defined (removed: their rows are no longer kept up to date).
 */
async function compare(trx: Knex.Transaction, rows: StatusRow[], tracked: Map<string, Map<string, string>>, now: string) {
  const recorded = new Map(rows.map((r) => [key(r), r]));
  const stored = new Map<string, boolean>();
  const hasData = async (type: string) => {
    if (!stored.has(type)) stored.set(type, await hasResources(trx, type));
    return stored.get(type) as boolean;
  };
  const upserts: StatusRow[] = [];
  for (const [type, codes] of tracked) {
    for (const [code, fp] of codes) {
      const old = recorded.get(key({ resource_type: type, code }));
      if (old?.fingerprint === fp && (old.state === 'ready' || (await hasData(type)))) continue;
      upserts.push(row(type, code, fp, (await hasData(type)) && old?.fingerprint !== fp ? 'backfilling' : 'ready', now));
    }
  }
  const removed = rows.filter((r) => !tracked.get(r.resource_type)?.has(r.code));
  return { upserts, removed, keys: new Set(upserts.map(key)) };
}

/**
 * Brings the search index state up for an app: custom SearchParameters from the
 * configuration, the comparison above, then a tracker that keeps this process's view of
 * readiness current. Logs what waits for `kiln reindex`.
 */
export async function startSearchReadiness(config: Config, db: Database, log: Logger): Promise<ReadinessTracker> {
  applySearchParameterConfig(config);
  const report = await syncSearchParamStatus(db);
  if (report.backfilling.length > 0) {
    log.warn(
      { parameters: report.backfilling.slice(0, 50), count: report.backfilling.length },
      'search parameters wait for their index to be rebuilt (searches using them are refused): run kiln reindex',
    );
  }
  const tracker = new ReadinessTracker(db, log);
  await tracker.start();
  return tracker;
}
