import type { Knex } from 'knex';
import { turnsEvery } from '../event-loop.js';

/**
 * Running the multi-row statements of bulk writes (index rows, resource versions).
 *
 * Rows go out in statements of a few fixed sizes only, largest first (1,000 rows in
 * statements of 512/64/8/1 rows go out as 512 + 7 × 64 + 5 × 8), so each table has a
 * few distinct statements and SQLite reuses their prepared form (`cacheStatements` in
 * connect.ts). One statement per exact row count made nearly every insert a new
 * statement, and parsing a statement of thousands of tuples cost more than running it.
 * The statements are plain multi-row `INSERT … VALUES (…), (…)`, valid on both engines:
 * knex's builder would emit `INSERT … SELECT … UNION ALL SELECT …` for SQLite, which
 * stops at 500 rows (SQLITE_MAX_COMPOUND_SELECT) and parses slower.
 *
 * Through knex, every statement's text is scanned for its `?` placeholders and every
 * binding checked and formatted, before the driver binds them again: for statements of
 * hundreds of rows, a tenth of a Synthea import's time went to that. On SQLite inside a
 * transaction, these statements go to the transaction's better-sqlite3 connection
 * directly instead, prepared once per text (the connection caches them, connect.ts).
 * Elsewhere (PostgreSQL, or outside a transaction) they go through knex as any query.
 */

interface SqliteStatement {
  reader: boolean;
  all(params: unknown[]): unknown[];
  run(params: unknown[]): unknown;
}

interface SqliteConnection {
  prepare(sql: string): SqliteStatement;
}

/** knex's own client of a transaction, which hands out the transaction's connection. */
interface TransactionClient {
  dialect: string;
  acquireConnection(): Promise<unknown>;
}

/**
 * A turn of the event loop every 50 ms of one transaction's bulk statements. On SQLite
 * they are synchronous: a write of a million index rows (a Patient with 200,000 names)
 * would otherwise hold the whole server for seconds, health checks included. Meanwhile
 * reads go on, from the read-only connection and the snapshot before this transaction;
 * other writes wait for the connection as they would anyway.
 */
const turns = new WeakMap<object, () => Promise<void> | undefined>();

/** Set by benchmarks to time the statements that bypass knex's query events; unset otherwise. */
export const bulkObserver: { statement?: (sql: string, ms: number) => void } = {};

/**
 * Runs `sql` with `bindings` (booleans stored as 0/1 on SQLite, as knex does) and
 * resolves to the rows it returns (`RETURNING`), or to none.
 */
export async function runBulk(db: Knex | Knex.Transaction, sql: string, bindings: Knex.Value[]): Promise<Record<string, unknown>[]> {
  const client = (db as unknown as { client: TransactionClient }).client;
  if (db.isTransaction && client.dialect === 'sqlite3') {
    const trx = db as Knex.Transaction;
    let turn = turns.get(trx);
    if (!turn) turns.set(trx, (turn = turnsEvery(50)));
    const waiting = turn();
    if (waiting) await waiting;
    if (trx.isCompleted()) throw new Error('Transaction query already complete');
    const conn = (await client.acquireConnection()) as SqliteConnection;
    const started = bulkObserver.statement ? performance.now() : 0;
    const stmt = conn.prepare(sql);
    for (let i = 0; i < bindings.length; i++) if (typeof bindings[i] === 'boolean') bindings[i] = Number(bindings[i]);
    const rows = stmt.reader ? (stmt.all(bindings as unknown[]) as Record<string, unknown>[]) : (stmt.run(bindings as unknown[]), []);
    bulkObserver.statement?.(sql, performance.now() - started);
    return rows;
  }
  const result = await db.raw(sql, bindings);
  return Array.isArray(result) ? result : (result.rows ?? []);
}

/** `(?, ?, …), (?, ?, …)`: `rows` tuples of `width` placeholders. */
function placeholders(rows: number, width: number): string {
  return new Array<string>(rows).fill(`(${new Array<string>(width).fill('?').join(', ')})`).join(', ');
}

/** The texts `insertSql` made, by shape: a few per table (see `runRows`). */
const insertTexts = new Map<string, string>();

/**
 * `insert into "table" ("column", …) values (?, …), … <suffix>` of `rows` rows, made once
 * per shape so that the statements `runRows` sends are the same strings each time.
 */
export function insertSql(table: string, columns: readonly string[], rows: number, suffix = ''): string {
  const key = `${table}|${columns.join(',')}|${rows}|${suffix}`;
  let sql = insertTexts.get(key);
  if (sql === undefined) {
    sql = `insert into "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) values ${placeholders(rows, columns.length)}${suffix && ` ${suffix}`}`;
    insertTexts.set(key, sql);
  }
  return sql;
}

/**
 * Runs the rows in `bindings` (`width` values each) through the statements `sqlOf(n)` of
 * `n` rows, for `n` in `sizes` only (largest first, ending with 1); resolves to the rows
 * the statements return, if they return any.
 */
export async function runRows(
  db: Knex | Knex.Transaction,
  bindings: Knex.Value[],
  width: number,
  sizes: readonly number[],
  sqlOf: (rows: number) => string,
): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  const total = bindings.length / width;
  let done = 0;
  for (const size of sizes) {
    while (total - done >= size) {
      const returned = await runBulk(db, sqlOf(size), bindings.slice(done * width, (done + size) * width));
      for (const r of returned) out.push(r);
      done += size;
    }
  }
  return out;
}
