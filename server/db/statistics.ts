import type { Database } from './connect.js';

/**
 * After a bulk load, refreshes the query planner's statistics. Without them both engines
 * can pick poor plans for search (SQLite never gathers them itself; PostgreSQL's
 * autovacuum does so only after a delay), and searches on freshly loaded data can be
 * slower by orders of magnitude. SQLite samples (analysis_limit) so this stays quick on
 * large databases.
 */
export async function refreshStatistics(db: Database): Promise<void> {
  if (db.engine === 'sqlite') {
    await db.knex.raw('PRAGMA analysis_limit=1000');
    await db.knex.raw('PRAGMA optimize=0x10002');
  } else {
    await db.knex.raw('ANALYZE');
  }
}
