import type { Knex } from 'knex';
import { SEARCH_TABLES } from './schema.js';
import { INDEX_KINDS, type IndexKind, type IndexRows } from './types.js';

/**
 * Writing a resource's search index rows (see extract.ts) into the `search_*` tables:
 * on every create or update the rows are replaced as a whole, so search always sees the
 * current version only (https://hl7.org/fhir/R4/search.html — search matches the
 * current version of each resource; history is not searched).
 */

/** One resource's rows, for the batch functions. */
export interface IndexWrite {
  resourceType: string;
  id: string;
  rows: IndexRows;
}

/** A resource whose rows are to be deleted. */
export interface IndexOwner {
  resourceType: string;
  id: string;
}

export interface WriteOptions {
  /** Delete the resource's existing rows first (an update). Default true; pass false on create to save the deletes. */
  replace?: boolean;
}

/** Bound parameters per statement: SQLite allows 32,766 (since 3.32), PostgreSQL 65,535. */
function parameterLimit(db: Knex): number {
  return db.client.dialect === 'postgresql' ? 65_000 : 32_000;
}

/** Ids per `IN (…)` list of a delete, well under either engine's parameter limit. */
const DELETE_CHUNK = 5_000;

/** Columns of each table in insert order; the owner columns come first. */
const COLUMNS: Record<IndexKind, readonly string[]> = {
  token: ['resource_type', 'resource_id', 'code', 'item', 'system', 'value'],
  string: ['resource_type', 'resource_id', 'code', 'item', 'value', 'exact'],
  reference: ['resource_type', 'resource_id', 'code', 'item', 'target_type', 'target_id', 'target_version', 'url'],
  date: ['resource_type', 'resource_id', 'code', 'item', 'start', 'end'],
  number: ['resource_type', 'resource_id', 'code', 'item', 'value', 'low', 'high'],
  quantity: ['resource_type', 'resource_id', 'code', 'item', 'system', 'unit_code', 'unit', 'value', 'low', 'high'],
  uri: ['resource_type', 'resource_id', 'code', 'item', 'value'],
};

/**
 * Inserts all rows of one kind with as few statements as the parameter limit allows.
 * The statement is a plain multi-row `INSERT … VALUES (…), (…)`, valid on both engines:
 * knex's builder would emit `INSERT … SELECT … UNION ALL SELECT …` for SQLite, which
 * stops at 500 rows (SQLITE_MAX_COMPOUND_SELECT) and parses slower.
 */
async function insertRows(db: Knex | Knex.Transaction, kind: IndexKind, writes: readonly IndexWrite[]): Promise<void> {
  const columns = COLUMNS[kind];
  const perStatement = Math.max(1, Math.floor(parameterLimit(db) / columns.length));
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  const head = `insert into "${SEARCH_TABLES[kind]}" (${columns.map((c) => `"${c}"`).join(', ')}) values `;
  let bindings: Knex.Value[] = [];
  let count = 0;
  const flush = async (): Promise<void> => {
    await db.raw(head + new Array<string>(count).fill(tuple).join(', '), bindings);
    bindings = [];
    count = 0;
  };
  for (const w of writes) {
    for (const row of w.rows[kind] as unknown as Record<string, Knex.Value | undefined>[]) {
      bindings.push(w.resourceType, w.id);
      for (let c = 2; c < columns.length; c++) bindings.push(row[columns[c]] ?? null);
      if (++count === perStatement) await flush();
    }
  }
  if (count > 0) await flush();
}

/** Groups ids by resource type, so deletes can use one `IN` list per type. */
function idsByType(owners: readonly IndexOwner[]): Map<string, string[]> {
  const byType = new Map<string, string[]>();
  for (const o of owners) {
    const ids = byType.get(o.resourceType);
    if (ids) ids.push(o.id);
    else byType.set(o.resourceType, [o.id]);
  }
  return byType;
}

/** Deletes the rows of many resources: per table, one statement per type and chunk of ids. */
export async function deleteIndexRowsBatch(db: Knex | Knex.Transaction, owners: readonly IndexOwner[]): Promise<void> {
  if (owners.length === 0) return;
  const byType = idsByType(owners);
  for (const table of Object.values(SEARCH_TABLES)) {
    for (const [type, ids] of byType) {
      for (let i = 0; i < ids.length; i += DELETE_CHUNK) {
        const slice = ids.slice(i, i + DELETE_CHUNK);
        const q = db(table).where('resource_type', type);
        await (slice.length === 1 ? q.where('resource_id', slice[0]) : q.whereIn('resource_id', slice)).delete();
      }
    }
  }
}

/**
 * Writes the rows of many resources in one go (a transaction bundle, a bulk import):
 * deletes their old rows when replacing, then inserts all new rows table by table.
 * Run it inside the transaction that writes the resources themselves.
 */
export async function writeIndexRowsBatch(db: Knex | Knex.Transaction, writes: readonly IndexWrite[], opts: WriteOptions = {}): Promise<void> {
  if (opts.replace ?? true) await deleteIndexRowsBatch(db, writes);
  for (const kind of INDEX_KINDS) await insertRows(db, kind, writes);
}

/**
 * Stores the index rows of one resource, replacing its previous rows unless
 * `opts.replace` is false. See https://hl7.org/fhir/R4/search.html#ptypes for the rows.
 */
export async function writeIndexRows(
  db: Knex | Knex.Transaction,
  resourceType: string,
  id: string,
  rows: IndexRows,
  opts: WriteOptions = {},
): Promise<void> {
  await writeIndexRowsBatch(db, [{ resourceType, id, rows }], opts);
}

/** Removes every index row of a resource (on delete: a deleted resource is not found by search). */
export async function deleteIndexRows(db: Knex | Knex.Transaction, resourceType: string, id: string): Promise<void> {
  await deleteIndexRowsBatch(db, [{ resourceType, id }]);
}
