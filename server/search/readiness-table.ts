import type { Knex } from 'knex';
import type { Database } from '../db/connect.js';

/**
 * The durable state of the search index, per search parameter of each resource type:
 * the fingerprint of the definition the stored index rows were built by, and whether
 * they are complete (`ready`) or still being rebuilt by `kiln reindex` (`backfilling`,
 * with the last resource id done, so a stopped reindex resumes there).
 *
 * `search_param_epoch` is one row: `n` counts the changes of readiness, so that server
 * processes poll one number instead of the whole table, and `lease_owner`/`lease_until`
 * let only one `kiln reindex` run at a time.
 */

export const STATUS_TABLE = 'search_param_status';
export const EPOCH_TABLE = 'search_param_epoch';

export type ParamState = 'ready' | 'backfilling';

/** One row of `search_param_status`. */
export interface StatusRow {
  resource_type: string;
  code: string;
  fingerprint: string;
  state: ParamState;
  /** The last resource id (of `resource_type`, in primary key order) whose rows were rebuilt. */
  cursor_id: string | null;
  updated_at: string;
}

/** Creates both tables (migration `0005_search_param_status`). */
export async function createSearchParamStatusTables(knex: Knex): Promise<void> {
  await knex.schema.createTable(STATUS_TABLE, (t) => {
    t.string('resource_type', 64).notNullable();
    t.string('code', 100).notNullable();
    t.string('fingerprint', 64).notNullable();
    t.string('state', 16).notNullable();
    t.string('cursor_id', 64).nullable();
    t.string('updated_at', 24).notNullable();
    t.primary(['resource_type', 'code']);
  });
  await knex.schema.createTable(EPOCH_TABLE, (t) => {
    t.integer('id').primary();
    t.bigInteger('n').notNullable();
    t.string('lease_owner', 64).nullable();
    t.string('lease_until', 24).nullable();
  });
  await knex(EPOCH_TABLE).insert({ id: 1, n: 0 });
}

/** Drops them (the migration's `down`). */
export async function dropSearchParamStatusTables(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists(EPOCH_TABLE);
  await knex.schema.dropTableIfExists(STATUS_TABLE);
}

/** Every status row. */
export async function readStatusRows(exec: Knex | Knex.Transaction): Promise<StatusRow[]> {
  return (await exec(STATUS_TABLE).select('resource_type', 'code', 'fingerprint', 'state', 'cursor_id', 'updated_at')) as StatusRow[];
}

/** Tells every process that readiness changed; call it in the transaction that changed it. */
export async function bumpEpoch(exec: Knex | Knex.Transaction): Promise<void> {
  await exec(EPOCH_TABLE).where('id', 1).increment('n', 1);
}

const EPOCH_SQL = `select "n" from "${EPOCH_TABLE}" where "id" = 1`;

/**
 * The current epoch. On SQLite through the read-only connection, which never waits for
 * a write transaction of this process's main connection.
 */
export async function readEpoch(db: Database): Promise<number> {
  type Row = { n: number | string } | undefined;
  const row = db.reader ? (db.reader.get(EPOCH_SQL, []) as Row) : ((await db.knex(EPOCH_TABLE).select('n').where('id', 1).first()) as Row);
  return Number(row?.n ?? 0);
}

/** Writes rows in chunks (upsert on the key), well under either engine's bind limit. */
export async function upsertStatusRows(exec: Knex | Knex.Transaction, rows: StatusRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) {
    await exec(STATUS_TABLE)
      .insert(rows.slice(i, i + 500))
      .onConflict(['resource_type', 'code'])
      .merge(['fingerprint', 'state', 'cursor_id', 'updated_at']);
  }
}
