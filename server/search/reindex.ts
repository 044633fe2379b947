import type { Knex } from 'knex';
import type { Database } from '../db/connect.js';
import { inTransaction } from '../db/transaction.js';
import { turnsEvery } from '../event-loop.js';
import { withBulkCheckpoints } from '../import/checkpoints.js';
import { extractIndexRows } from './extract.js';
import { trackedFingerprints } from './readiness.js';
import { hasResources, syncSearchParamStatus } from './readiness-sync.js';
import { bumpEpoch, readStatusRows, STATUS_TABLE } from './readiness-table.js';
import { ReindexLease } from './reindex-lease.js';
import { searchableResourceTypes } from './registry.js';
import { writeIndexRowsBatch, type IndexWrite } from './write.js';

/**
 * `kiln reindex`: rebuilds the index rows of stored resources so that parameters whose
 * definition changed (see readiness-sync.ts) become ready. Each resource type is walked
 * in primary key order, a batch per transaction, each batch rewriting its resources' rows
 * with the write path's own extraction; the last id done is recorded after every batch,
 * so a reindex that is stopped or killed resumes there. Servers may keep serving the
 * database meanwhile: what they write is indexed by the new definitions already.
 */

export interface ReindexOptions {
  /** Only these resource types (default: every type with a parameter waiting). */
  types?: string[];
  /** Rebuild every parameter of the types (marking them not ready first), not only those waiting. */
  all?: boolean;
  /** Resources per transaction (default 500). */
  batchSize?: number;
  /** Stop after this many batches; the next run goes on from there. */
  maxBatches?: number;
  onProgress?: (p: ReindexProgress) => void;
  /** Asked between batches: true stops the walk where it is (Ctrl-C). */
  stopRequested?: () => boolean;
}

export interface ReindexProgress {
  done: number;
  total: number;
  startedAt: number;
  type: string;
}

export interface ReindexSummary {
  resources: number;
  /** Types walked to their end. */
  types: string[];
  seconds: number;
  /** Parameters made ready, as `Type.code`. */
  ready: string[];
  /** Parameters still waiting, as `Type.code` (the walk stopped early, or other definitions). */
  pending: string[];
}

interface Step {
  type: string;
  from: string | null;
  remaining: number;
}

const DEFAULT_BATCH = 500;

/** My fingerprints of `type`'s parameters: status rows with others belong to other definitions. */
function mine(type: string): string[] {
  return [...(trackedFingerprints().get(type)?.values() ?? [])];
}

/** `--all`: every parameter of the types that hold resources becomes not ready, from the start. */
async function markAll(db: Database, types: string[]): Promise<void> {
  const withData: string[] = [];
  for (const type of types) if (await hasResources(db.knex, type)) withData.push(type);
  await inTransaction(db, async (trx) => {
    const now = new Date().toISOString();
    for (const type of withData) {
      await trx(STATUS_TABLE).where('resource_type', type).whereIn('fingerprint', mine(type)).update({ state: 'backfilling', cursor_id: null, updated_at: now });
    }
    await bumpEpoch(trx);
  });
}

/** The types to walk, each from where its waiting parameters have got to. */
async function plan(db: Database, only: string[] | undefined): Promise<Step[]> {
  const cursors = new Map<string, (string | null)[]>();
  for (const r of await readStatusRows(db.knex)) {
    if (r.state !== 'backfilling' || (only && !only.includes(r.resource_type)) || !mine(r.resource_type).includes(r.fingerprint)) continue;
    cursors.set(r.resource_type, [...(cursors.get(r.resource_type) ?? []), r.cursor_id]);
  }
  const steps: Step[] = [];
  for (const [type, list] of [...cursors].sort(([a], [b]) => (a < b ? -1 : 1))) {
    // Parameters that got to different points (one added since) are walked from the start.
    const from = list.every((c) => c !== null && c === list[0]) ? list[0] : null;
    steps.push({ type, from, remaining: await countAfter(db.knex, type, from) });
  }
  return steps;
}

function afterQuery(exec: Knex | Knex.Transaction, type: string, from: string | null): Knex.QueryBuilder {
  const q = exec('resources').where('resource_type', type).where('deleted', false);
  return from === null ? q : q.where('id', '>', from);
}

async function countAfter(exec: Knex, type: string, from: string | null): Promise<number> {
  const [row] = (await afterQuery(exec, type, from).count({ n: '*' })) as { n: number | string }[];
  return Number(row?.n ?? 0);
}

/**
 * Rewrites the rows of the resources `ids` in one transaction, as they are now. On
 * PostgreSQL the rows are locked, skipping those a writer holds (they are being indexed
 * by it): the ids returned were skipped, for a second look once the writer is done.
 */
async function rewrite(db: Database, type: string, ids: string[], skipLocked: boolean): Promise<string[]> {
  return inTransaction(db, async (trx) => {
    const q = trx('resources').select('rid', 'id', 'content').where('resource_type', type).whereIn('id', ids).where('deleted', false);
    if (db.engine === 'postgres') q.forUpdate();
    if (db.engine === 'postgres' && skipLocked) q.skipLocked();
    const rows = (await q) as { rid: number | string; id: string; content: string }[];
    const writes: IndexWrite[] = rows.map((r) => ({ resourceType: type, rid: Number(r.rid), rows: extract(type, r.id, r.content) }));
    await writeIndexRowsBatch(trx, writes, { replace: true });
    const done = new Set(rows.map((r) => r.id));
    return db.engine === 'postgres' ? ids.filter((id) => !done.has(id)) : [];
  });
}

function extract(type: string, id: string, content: string): IndexWrite['rows'] {
  try {
    return extractIndexRows(JSON.parse(content) as { resourceType: string });
  } catch (err) {
    throw new Error(`${type}/${id} cannot be indexed: ${(err as Error).message}`, { cause: err });
  }
}

/** Records how far the waiting parameters of `type` have got. */
async function advance(db: Database, type: string, last: string): Promise<void> {
  await db.knex(STATUS_TABLE).where({ resource_type: type, state: 'backfilling' }).whereIn('fingerprint', mine(type)).update({ cursor_id: last, updated_at: new Date().toISOString() });
}

/** The waiting parameters of a type walked to its end become ready. */
async function markReady(db: Database, type: string): Promise<string[]> {
  return inTransaction(db, async (trx) => {
    const fps = mine(type);
    const rows = (await trx(STATUS_TABLE).select('code').where({ resource_type: type, state: 'backfilling' }).whereIn('fingerprint', fps)) as { code: string }[];
    await trx(STATUS_TABLE).where({ resource_type: type, state: 'backfilling' }).whereIn('fingerprint', fps).update({ state: 'ready', cursor_id: null, updated_at: new Date().toISOString() });
    await bumpEpoch(trx);
    return rows.map((r) => `${type}.${r.code}`);
  });
}

/** Everything one run shares: the options, the lease, the counts. */
class Walk {
  done = 0;
  batches = 0;
  readonly startedAt = Date.now();
  private readonly turn = turnsEvery(0);

  constructor(
    readonly db: Database,
    readonly opts: ReindexOptions,
    readonly lease: ReindexLease,
    readonly total: number,
  ) {}

  private mayGoOn(): boolean {
    return (this.opts.maxBatches === undefined || this.batches < this.opts.maxBatches) && !this.opts.stopRequested?.();
  }

  /** Walks one type from its cursor; true when it reached the end. */
  async type(step: Step): Promise<boolean> {
    const size = this.opts.batchSize ?? DEFAULT_BATCH;
    let cursor = step.from;
    this.opts.onProgress?.({ done: this.done, total: this.total, startedAt: this.startedAt, type: step.type });
    for (;;) {
      const ids = ((await afterQuery(this.db.knex, step.type, cursor).select('id').orderBy('id').limit(size)) as { id: string }[]).map((r) => r.id);
      if (ids.length === 0) return true;
      if (!this.mayGoOn()) return false;
      const skipped = await rewrite(this.db, step.type, ids, true);
      // One at a time, waiting for the writer: holding no other lock, it cannot deadlock.
      for (const id of skipped) await rewrite(this.db, step.type, [id], false);
      cursor = ids[ids.length - 1];
      await advance(this.db, step.type, cursor);
      await this.lease.renew();
      this.batches++;
      this.done += ids.length;
      this.opts.onProgress?.({ done: this.done, total: Math.max(this.total, this.done), startedAt: this.startedAt, type: step.type });
      // Lets the event loop run `kiln reindex`'s SIGINT handler (see server/event-loop.ts).
      await this.turn();
    }
  }
}

/** Waiting parameters left, as `Type.code`. */
async function pending(db: Database): Promise<string[]> {
  const rows = await readStatusRows(db.knex);
  return rows.filter((r) => r.state === 'backfilling').map((r) => `${r.resource_type}.${r.code}`).sort();
}

/** Runs a reindex (see the module comment). Throws `ReindexBusyError` when another one runs. */
export async function reindex(db: Database, opts: ReindexOptions = {}): Promise<ReindexSummary> {
  const started = Date.now();
  await syncSearchParamStatus(db);
  const lease = new ReindexLease(db);
  await lease.claim();
  try {
    if (opts.all) await markAll(db, opts.types ?? searchableResourceTypes());
    const steps = await plan(db, opts.types);
    const walk = new Walk(db, opts, lease, steps.reduce((n, s) => n + s.remaining, 0));
    const ready: string[] = [];
    const types: string[] = [];
    await withBulkCheckpoints(db, async () => {
      for (const step of steps) {
        if (!(await walk.type(step))) break;
        ready.push(...(await markReady(db, step.type)));
        types.push(step.type);
      }
    });
    return { resources: walk.done, types, seconds: (Date.now() - started) / 1000, ready, pending: await pending(db) };
  } finally {
    await lease.release();
  }
}
