import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Database } from '../db/connect.js';
import { ANALYSIS_LIMIT } from '../db/statistics.js';
import { createQueryIndex, dropQueryIndex, queryIndexes, SEARCH_TABLES, type QueryIndex } from './schema.js';

/**
 * A bulk load builds the search tables' query indexes once, after their rows, instead of
 * row by row (SQLite).
 *
 * Each index row inserted one at a time goes to a random place in its b-tree: a seek,
 * and often a page split. Built afterwards, the index sorts the rows once and writes
 * each page once (https://sqlite.org/lang_createindex.html; PostgreSQL's manual gives
 * the same advice: https://www.postgresql.org/docs/current/populate.html#POPULATE-RM-INDEXES).
 * Inserting the shared Synthea set's 500,000 index rows took 3.9 s with the query
 * indexes in place and 1.6 s without them, building them included (docs/benchmarks.md).
 *
 * `kiln import` and `kiln seed` do it when they write at least as many resources as are
 * stored, so the build never costs more than the rows it saves. Meanwhile:
 * - the `_resource` indexes stay: a load that replaces a resource finds its old rows
 *   through them, and they grow at their end anyway (keys only grow);
 * - conditional references to stored resources (`Type?identifier=system|value`) are
 *   looked up through a small partial index of the identifier rows (`IDENTIFIER_INDEX`),
 *   which exists only while the query indexes are away;
 * - a process serving the same database still answers every search, by reading the
 *   tables instead of an index: slower, never wrong (`kiln import --keep-indexes` keeps
 *   them for a database that serves while it loads).
 * A load that has the query indexes away says so in `kiln_index_deferrals`: a row with
 * its process id and host, renewed while it runs (`IndexDeferral`). A process that opens
 * the database (`openCore`) builds the query indexes that are missing only when no live
 * load has them away (`restoreAtStart`): one started beside a running import leaves them
 * to it, instead of building them on half the rows while holding the write lock the
 * import waits for (a build can outlast the import's `busy_timeout` at a million
 * resources). An import that was killed is seen as gone on the same host by its process
 * id (at start, or within a renewal period by a process that was waiting), elsewhere once
 * its row lapses; the process that sees it builds them. (`kiln import` stops gracefully
 * on SIGINT and SIGTERM, building them itself.)
 *
 * PostgreSQL keeps its indexes: there an index build blocks the writes of every process
 * serving the database, and loading without them saved about a tenth of the time.
 */

/** The parameter code of identifiers, which conditional references name (`Type?identifier=`). */
export const IDENTIFIER_CODE = 'identifier';

/** The identifier rows of `search_token`, for conditional references while the query indexes are away. */
export const IDENTIFIER_INDEX: QueryIndex = {
  name: 'search_token_identifier',
  table: SEARCH_TABLES.token,
  columns: ['resource_type', 'value', 'system', 'rid'],
  where: { column: 'code', equals: IDENTIFIER_CODE },
};

/** Where loads that have the query indexes away say so (migration `0012_index_deferrals`). */
export const DEFERRAL_TABLE = 'kiln_index_deferrals';

/** How long a deferral's row lasts without renewal; it is renewed every quarter of that. */
export const DEFERRAL_MS = 60_000;

/** One row of `kiln_index_deferrals`. */
export interface DeferralRow {
  owner: string;
  pid: number;
  host: string;
  /** ISO time the row lapses unless renewed. */
  until: string;
}

/**
 * True while the load of `row` may still be running: its row has not lapsed and, on this
 * host, its process exists (a process id taken over by another process is caught by the
 * lapse, since nothing renews the row then).
 */
export function isLive(row: DeferralRow, now = new Date()): boolean {
  if (row.until <= now.toISOString()) return false;
  if (row.host !== hostname()) return true;
  try {
    process.kill(row.pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function deferralRows(db: Database): Promise<DeferralRow[]> {
  return (await db.knex(DEFERRAL_TABLE).select('owner', 'pid', 'host', 'until')).map((r: DeferralRow) => ({ ...r, pid: Number(r.pid) }));
}

/**
 * A load's hold on the query indexes: its row in `kiln_index_deferrals`, renewed on a
 * timer until `end`, which builds the indexes unless another live load still has them
 * away (the last one builds them).
 */
export class IndexDeferral {
  private readonly owner = randomUUID();
  private readonly timer: NodeJS.Timeout;

  private constructor(private readonly db: Database) {
    this.timer = setInterval(() => {
      // A renewal that fails (a statement holding the connection too long) lets the row
      // lapse: another process may then build the indexes early, which is slower, not wrong.
      this.db.knex(DEFERRAL_TABLE).where('owner', this.owner).update({ until: lapse() }).catch(() => undefined);
    }, DEFERRAL_MS / 4);
    this.timer.unref();
  }

  /** Records a new deferral of this process. */
  static async begin(db: Database): Promise<IndexDeferral> {
    const deferral = new IndexDeferral(db);
    try {
      await db.knex(DEFERRAL_TABLE).insert({ owner: deferral.owner, pid: process.pid, host: hostname(), until: lapse() });
    } catch (err) {
      clearInterval(deferral.timer);
      throw err;
    }
    return deferral;
  }

  /**
   * After the load, whatever happened: builds the missing query indexes unless another
   * live load has them away, then removes this deferral's row. Returns the names built.
   */
  async end(): Promise<string[]> {
    try {
      const others = (await deferralRows(this.db)).filter((r) => r.owner !== this.owner && isLive(r));
      return others.length > 0 ? [] : await restoreQueryIndexes(this.db);
    } finally {
      clearInterval(this.timer);
      await this.db.knex(DEFERRAL_TABLE).where('owner', this.owner).delete();
    }
  }
}

function lapse(): string {
  return new Date(Date.now() + DEFERRAL_MS).toISOString();
}

/**
 * Before a load of `importing` resources on SQLite: when the load is at least as large as
 * what is stored, or another load has the query indexes away already, records a deferral
 * and drops them. The caller then calls `end` on what it got once it has loaded, whatever
 * happened. Undefined when the indexes stay (and always on PostgreSQL).
 */
export async function deferQueryIndexes(db: Database, importing: number): Promise<IndexDeferral | undefined> {
  if (db.engine !== 'sqlite') return undefined;
  const [{ n }] = await db.knex('resources').count({ n: '*' });
  if (importing < Number(n) && (await missingQueryIndexes(db)).length === 0) return undefined;
  const deferral = await IndexDeferral.begin(db);
  try {
    await createQueryIndex(db.knex, IDENTIFIER_INDEX);
    for (const index of queryIndexes()) await dropQueryIndex(db.knex, index);
  } catch (err) {
    await deferral.end();
    throw err;
  }
  return deferral;
}

/** The query indexes that are not in the database (SQLite). */
async function missingQueryIndexes(db: Database): Promise<QueryIndex[]> {
  const rows: { name: string }[] = await db.knex('sqlite_master').where('type', 'index').select('name');
  const present = new Set(rows.map((r) => r.name));
  return queryIndexes().filter((index) => !present.has(index.name));
}

/**
 * What a process that opens the database does (`openCore`): builds the query indexes a
 * load left out if no live load has them away, and removes the rows of loads that are
 * gone. While one does, it checks again every `recheckMs` (a renewal period), or when
 * that load's row would lapse if sooner, and builds them once they are still missing and
 * no live load holds them. `stop` ends the waiting.
 */
export async function restoreAtStart(db: Database, log: Logger, recheckMs = DEFERRAL_MS / 4): Promise<{ stop(): void }> {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let told = false;
  const check = async (): Promise<void> => {
    if (stopped || (await missingQueryIndexes(db)).length === 0) return;
    const rows = await deferralRows(db);
    const live = rows.filter((r) => isLive(r));
    if (live.length > 0) {
      const until = live.map((r) => r.until).sort().at(-1) as string;
      if (!told) log.info({ until }, 'search indexes are away for a bulk load in progress, which builds them when done; searches meanwhile read the tables');
      told = true;
      // Every renewal period at most: a load that died on this host is seen at once then.
      const wait = Math.min(recheckMs, Math.max(1000, Date.parse(until) - Date.now() + 1000));
      if (!stopped) {
        timer = setTimeout(() => {
          check().catch((err: unknown) => log.error({ err }, 'could not build the search indexes a bulk load left out'));
        }, wait);
        timer.unref();
      }
      return;
    }
    const gone = rows.map((r) => r.owner);
    if (gone.length > 0) await db.knex(DEFERRAL_TABLE).whereIn('owner', gone).delete();
    const built = await restoreQueryIndexes(db);
    if (built.length > 0) log.warn({ indexes: built }, 'built search indexes that an interrupted import had left out');
  };
  if (db.engine === 'sqlite') await check();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

/**
 * Builds every query index that is missing, each in a statement of its own (a serving
 * process's writes wait for one build at a time, not for all), and takes the planner's
 * statistics of each (dropping an index dropped them, and `PRAGMA optimize` may find its
 * table analyzed recently enough); then drops `IDENTIFIER_INDEX`. Returns the names it
 * built. Nothing to do on PostgreSQL.
 */
export async function restoreQueryIndexes(db: Database): Promise<string[]> {
  if (db.engine !== 'sqlite') return [];
  const missing = await missingQueryIndexes(db);
  if (missing.length > 0) {
    await db.knex.raw(`pragma analysis_limit = ${ANALYSIS_LIMIT}`);
    await withTempFiles(db, async () => {
      for (const index of missing) {
        await createQueryIndex(db.knex, index);
        await db.knex.raw('analyze ??', [index.name]);
      }
    });
  }
  await dropQueryIndex(db.knex, IDENTIFIER_INDEX);
  return missing.map((index) => index.name);
}

/**
 * Runs `fn` with SQLite's temporary files on disk (`temp_store = FILE`), then restores
 * the connection's setting (db/connect.ts keeps them in memory, for statement journals).
 * An index build sorts its rows in temporary files: in memory, the token index of a
 * million resources took 1 GB and 26 s; in files, 180 MB and 15 s (docs/benchmarks.md).
 * The connection holds no temporary tables, which a change of the setting would drop.
 */
async function withTempFiles(db: Database, fn: () => Promise<void>): Promise<void> {
  const [row] = (await db.knex.raw('pragma temp_store')) as { temp_store: number }[];
  await db.knex.raw('pragma temp_store = FILE');
  try {
    await fn();
  } finally {
    await db.knex.raw(`pragma temp_store = ${Number(row?.temp_store ?? 0)}`);
  }
}
