import type { Knex } from 'knex';
import { insertSql, runRows } from '../db/bulk.js';
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

/** The columns of `StatusRow`, in insert order. */
const STATUS_COLUMNS = ['resource_type', 'code', 'fingerprint', 'state', 'cursor_id', 'updated_at'] as const;
const STATUS_UPSERT = `on conflict ("resource_type", "code") do update set ${STATUS_COLUMNS.slice(2)
  .map((c) => `"${c}" = excluded."${c}"`)
  .join(', ')}`;

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
  return (await exec(STATUS_TABLE).select(...STATUS_COLUMNS)) as StatusRow[];
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

/**
 * Writes rows, upserting on the key, in the fixed-size multi-row statements of bulk
 * writes (db/bulk.ts): a new database records all its parameters (about 1,400) at its
 * first start, where knex's builder took longer to write the statement than to run it.
 */
export async function upsertStatusRows(exec: Knex | Knex.Transaction, rows: StatusRow[]): Promise<void> {
  const bindings = rows.flatMap((r) => STATUS_COLUMNS.map((c) => r[c]));
  await runRows(exec, bindings, STATUS_COLUMNS.length, [64, 8, 1], (n) => insertSql(STATUS_TABLE, STATUS_COLUMNS, n, STATUS_UPSERT));
}
