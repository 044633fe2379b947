import type { Database } from '../db/connect.js';

/**
 * WAL checkpoints during a bulk load (SQLite only; see https://sqlite.org/wal.html).
 *
 * SQLite copies the WAL back into the database file (a checkpoint, with two fsyncs
 * under `synchronous=NORMAL`) whenever a commit leaves the WAL over `wal_autocheckpoint`
 * pages, 1000 (4 MB) by default. A single Synthea patient file writes more than that, so
 * every file paid for a checkpoint: a fifth of the whole import's time. While importing,
 * checkpoints run every `BULK_CHECKPOINT_PAGES` instead, and once more at the end so that
 * a server sharing the database does not pay for the backlog on its next write.
 * Durability does not change: a transaction is committed once it is in the WAL.
 */
const BULK_CHECKPOINT_PAGES = 16384; // 64 MB of 4 KB pages

/** Runs `fn` with infrequent checkpoints on this process's SQLite connection, then restores the setting. */
export async function withBulkCheckpoints<T>(db: Database, fn: () => Promise<T>): Promise<T> {
  if (db.engine !== 'sqlite') return fn();
  const [row] = (await db.knex.raw('pragma wal_autocheckpoint')) as { wal_autocheckpoint: number }[];
  const previous = Number(row?.wal_autocheckpoint ?? 1000);
  await db.knex.raw(`pragma wal_autocheckpoint = ${BULK_CHECKPOINT_PAGES}`);
  try {
    return await fn();
  } finally {
    await db.knex.raw(`pragma wal_autocheckpoint = ${previous}`);
    // PASSIVE: copies what it can without waiting for readers (a serving process) to finish.
    await db.knex.raw('pragma wal_checkpoint(PASSIVE)');
  }
}
