import type { Knex } from 'knex';
import { insertSql, runRows } from '../db/bulk.js';
import { SEARCH_TABLES, VALUE_COLUMNS } from './schema.js';
import { INDEX_KINDS, type IndexKind, type IndexRows } from './types.js';

/**
 * Writing a resource's search index rows (see extract.ts) into the `search_*` tables:
 * on every create or update the rows are replaced as a whole, so search always sees the
 * current version only (https://hl7.org/fhir/R4/search.html — search matches the
 * current version of each resource; history is not searched).
 */

/** One resource's rows, for the batch functions: its type, its key (`rid`, db/keys.ts) and the rows. */
export interface IndexWrite {
  resourceType: string;
  rid: number;
  rows: IndexRows;
}

export interface WriteOptions {
  /** Delete the resource's existing rows first (an update). Default true; pass false on create to save the deletes. */
  replace?: boolean;
}

/**
 * Rows per multi-row INSERT (db/bulk.ts `runRows`). 512 rows of the widest table bind
 * 5,120 values, far under both engines' limits (SQLite 32,766, PostgreSQL 65,535).
 */
const STATEMENT_ROWS = [512, 64, 8, 1] as const;

/** Keys per `IN (…)` list of a delete, well under either engine's parameter limit. */
const DELETE_CHUNK = 5_000;

/** Owner columns, then the value columns, in insert order. */
const OWNER_COLUMNS = ['rid', 'resource_type', 'code', 'item'] as const;
const COLUMNS: Record<IndexKind, readonly string[]> = Object.fromEntries(
  INDEX_KINDS.map((kind) => [kind, [...OWNER_COLUMNS, ...VALUE_COLUMNS[kind]]]),
) as unknown as Record<IndexKind, readonly string[]>;

/**
 * The insert values of many resources' rows, per table: each row's columns in insert
 * order (`rid` first), rows one after another. A flat array of strings and numbers is
 * what the statements bind, and what crosses threads cheaply (the import prepares rows
 * on another thread with a placeholder `rid`; see `setRowKeys`).
 */
export type IndexBindings = Record<IndexKind, Knex.Value[]>;

/** Values per row of each table's bindings. */
export function bindingWidth(kind: IndexKind): number {
  return COLUMNS[kind].length;
}

/** The bindings of `writes`' rows. */
export function indexBindings(writes: readonly IndexWrite[]): IndexBindings {
  const out = {} as IndexBindings;
  for (const kind of INDEX_KINDS) {
    const columns = COLUMNS[kind];
    const bindings: Knex.Value[] = [];
    for (const w of writes) {
      for (const row of w.rows[kind] as unknown as Record<string, Knex.Value | undefined>[]) {
        bindings.push(w.rid, w.resourceType);
        for (let c = 2; c < columns.length; c++) bindings.push(row[columns[c]] ?? null);
      }
    }
    out[kind] = bindings;
  }
  return out;
}

/**
 * Bindings made with placeholder keys (0, 1, 2, … for the resources in the order given),
 * with the real keys: `rids[placeholder]`, or the row dropped when that is undefined (a
 * resource not written after all). `bindings` stays as it was, to be used again (an
 * import unit loaded a second time, see import/group.ts).
 */
export function setRowKeys(bindings: IndexBindings, rids: readonly (number | undefined)[]): IndexBindings {
  const out = {} as IndexBindings;
  // Not `every`: it skips the holes of a sparse array.
  let all = true;
  for (let i = 0; i < rids.length; i++) if (rids[i] === undefined) all = false;
  for (const kind of INDEX_KINDS) {
    const width = COLUMNS[kind].length;
    const b = bindings[kind];
    if (all) {
      const copy = b.slice();
      for (let i = 0; i < copy.length; i += width) copy[i] = rids[copy[i] as number] as number;
      out[kind] = copy;
      continue;
    }
    const kept: Knex.Value[] = [];
    for (let i = 0; i < b.length; i += width) {
      const rid = rids[b[i] as number];
      if (rid === undefined) continue;
      kept.push(rid);
      for (let c = 1; c < width; c++) kept.push(b[i + c]);
    }
    out[kind] = kept;
  }
  return out;
}

/** Inserts all rows of `bindings` in multi-row statements of the `STATEMENT_ROWS` sizes. */
export async function insertIndexBindings(db: Knex | Knex.Transaction, bindings: IndexBindings): Promise<void> {
  for (const kind of INDEX_KINDS) {
    await runRows(db, bindings[kind], COLUMNS[kind].length, STATEMENT_ROWS, (rows) => insertSql(SEARCH_TABLES[kind], COLUMNS[kind], rows));
  }
}

/** Deletes the rows of the resources with these keys: per table, one statement per chunk of keys. */
export async function deleteIndexRowsBatch(db: Knex | Knex.Transaction, rids: readonly number[]): Promise<void> {
  if (rids.length === 0) return;
  for (const table of Object.values(SEARCH_TABLES)) {
    for (let i = 0; i < rids.length; i += DELETE_CHUNK) {
      const slice = rids.slice(i, i + DELETE_CHUNK);
      await (slice.length === 1 ? db(table).where('rid', slice[0]) : db(table).whereIn('rid', slice)).delete();
    }
  }
}

/**
 * Writes the rows of many resources in one go (a transaction bundle, a bulk import):
 * deletes their old rows when replacing, then inserts all new rows table by table.
 * Run it inside the transaction that writes the resources themselves.
 */
export async function writeIndexRowsBatch(db: Knex | Knex.Transaction, writes: readonly IndexWrite[], opts: WriteOptions = {}): Promise<void> {
  if (opts.replace ?? true) await deleteIndexRowsBatch(db, writes.map((w) => w.rid));
  await insertIndexBindings(db, indexBindings(writes));
}

/** Removes every index row of a resource (on delete: a deleted resource is not found by search). */
export async function deleteIndexRows(db: Knex | Knex.Transaction, rid: number): Promise<void> {
  await deleteIndexRowsBatch(db, [rid]);
}
