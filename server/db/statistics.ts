import type { Database } from './connect.js';

/** Rows SQLite's ANALYZE samples per index (https://sqlite.org/pragma.html#pragma_analysis_limit). */
export const ANALYSIS_LIMIT = 1000;

/**
 * After a bulk load, refreshes the query planner's statistics. Without them both engines
 * can pick poor plans for search (SQLite never gathers them itself; PostgreSQL's
 * autovacuum does so only after a delay), and searches on freshly loaded data can be
 * slower by orders of magnitude. SQLite samples (analysis_limit) so this stays quick on
 * large databases.
 */
export async function refreshStatistics(db: Database): Promise<void> {
  if (db.engine === 'sqlite') {
    await db.knex.raw(`PRAGMA analysis_limit=${ANALYSIS_LIMIT}`);
    await db.knex.raw('PRAGMA optimize=0x10002');
  } else {
    await db.knex.raw('ANALYZE');
  }
}
