import type { Knex } from 'knex';
import { conflict } from '../errors.js';
import type { Database } from './connect.js';

/**
 * Runs `fn` in one database transaction: everything it writes commits together or not
 * at all. On SQLite the first statement takes the write lock (see `kiln_lock`), so a
 * second process that is writing makes this one wait (busy_timeout) rather than fail
 * half-way with SQLITE_BUSY. A PostgreSQL unique violation (two requests creating the
 * same version at once) is a 409 the client may retry.
 */
export async function inTransaction<T>(db: Database, fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  try {
    return await db.knex.transaction(async (trx) => {
      await takeWriteLock(db, trx);
      return fn(trx);
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw conflict('A concurrent write changed this resource; retry the request');
    throw err;
  }
}

/**
 * The first statement of a write transaction: on SQLite it takes the write lock at once
 * (see `kiln_lock`), so a busy database makes the transaction wait (busy_timeout) instead
 * of failing later with SQLITE_BUSY. PostgreSQL locks rows as it writes them.
 */
export async function takeWriteLock(db: Database, trx: Knex.Transaction): Promise<void> {
  if (db.engine === 'sqlite') await trx.raw('update kiln_lock set n = n + 1 where id = 1');
}

function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string } | undefined;
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/**
 * Serialises writers that decide on the same search criteria (conditional create):
 * on PostgreSQL a transaction-scoped advisory lock on the key; SQLite's write lock,
 * taken when the transaction began, already serialises every writer.
 */
export async function lockCriteria(db: Database, trx: Knex.Transaction, key: string): Promise<void> {
  if (db.engine === 'postgres') await trx.raw('select pg_advisory_xact_lock(hashtextextended(?, 0))', [key]);
}
