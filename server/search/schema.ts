import type { Knex } from 'knex';
import { SPAN_LONG, SPAN_SHORT } from './ranges.js';
import { MAX_INDEXED_TEXT, MAX_INDEXED_URL, type IndexKind } from './types.js';
import { isPostgres } from '../db/dialect.js';

/**
 * The search index tables: one per search parameter type, each row one value of one
 * parameter of one resource (https://hl7.org/fhir/R4/search.html#ptypes). A row names its
 * resource by `rid`, the resource's integer key in `resources` (see db/keys.ts), and
 * repeats its type, which every lookup starts with. Built with
 * knex's schema builder so SQLite and PostgreSQL get the same tables; the one guarded
 * difference is the "C" collation on PostgreSQL text columns, which makes their order
 * bytewise (as SQLite's BINARY is) so that b-tree indexes serve prefix searches
 * (`value >= 'abc' AND value < 'abc\uffff'`, or `LIKE 'abc%'` under C) on both engines.
 */

/** Table name of each kind of row. */
export const SEARCH_TABLES: Readonly<Record<IndexKind, string>> = {
  token: 'search_token',
  string: 'search_string',
  reference: 'search_reference',
  date: 'search_date',
  number: 'search_number',
  quantity: 'search_quantity',
  uri: 'search_uri',
};

/** Longest resource type / id / version (https://hl7.org/fhir/R4/datatypes.html#id), and parameter code. */
const ID_LENGTH = 64;
const CODE_LENGTH = 100;
/** `YYYY-MM-DDTHH:mm:ss.sssZ` */
const INSTANT_LENGTH = 24;

type Table = Knex.CreateTableBuilder;
type Text = (t: Table, name: string, length: number) => Knex.ColumnBuilder;

function textColumn(pg: boolean): Text {
  if (!pg) return (t, name, length) => t.string(name, length);
  return (t, name, length) => t.specificType(name, `varchar(${length}) COLLATE "C"`);
}

/** Columns every table starts with; `item` numbers the composite item a component row belongs to (null on other rows; see types.ts). */
function owner(t: Table, text: Text): void {
  t.bigInteger('rid').notNullable();
  text(t, 'resource_type', ID_LENGTH).notNullable();
  text(t, 'code', CODE_LENGTH).notNullable();
  t.integer('item').nullable();
}

/** The value columns of each table. */
const COLUMNS: Record<IndexKind, (t: Table, text: Text) => void> = {
  token(t, text) {
    text(t, 'system', MAX_INDEXED_TEXT).nullable();
    text(t, 'value', MAX_INDEXED_TEXT).nullable();
  },
  string(t, text) {
    text(t, 'value', MAX_INDEXED_TEXT).notNullable();
    text(t, 'exact', MAX_INDEXED_TEXT).notNullable();
  },
  reference(t, text) {
    text(t, 'target_type', ID_LENGTH).nullable();
    text(t, 'target_id', ID_LENGTH).nullable();
    text(t, 'target_version', ID_LENGTH).nullable();
    text(t, 'url', MAX_INDEXED_URL).nullable();
  },
  date(t, text) {
    text(t, 'start', INSTANT_LENGTH).notNullable();
    text(t, 'end', INSTANT_LENGTH).notNullable();
  },
  number(t) {
    t.double('value').nullable();
    t.double('low').nullable();
    t.double('high').nullable();
  },
  quantity(t, text) {
    text(t, 'system', MAX_INDEXED_TEXT).nullable();
    text(t, 'unit_code', MAX_INDEXED_TEXT).nullable();
    text(t, 'unit', MAX_INDEXED_TEXT).nullable();
    t.double('value').nullable();
    t.double('low').nullable();
    t.double('high').nullable();
  },
  uri(t, text) {
    text(t, 'value', MAX_INDEXED_URL).notNullable();
  },
};

/**
 * The indexes of each table, by name suffix. `_resource` (on `rid`) finds a resource's
 * rows, to replace them or to probe them in a search; new resources get ever larger
 * keys, so their rows go to the end of it rather than to random places, as text ids did.
 * The query indexes end with `rid` where a search selects it from them, so that such a
 * subquery reads the index alone.
 */
const INDEXES: Record<IndexKind, Record<string, string[]>> = {
  // `code=system|value`, `code=value`, `code=system|` all seek on (code, value[, system]).
  token: { lookup: ['resource_type', 'code', 'value', 'system', 'rid'] },
  // Default string search is a prefix match on `value`; `:exact` seeks `value` too and then compares `exact`.
  string: { lookup: ['resource_type', 'code', 'value', 'rid'] },
  // Target first: `_revinclude` and `_has` ask "who points at Patient/1 through `code`?";
  // with resource_type last the same index serves `Observation?subject=Patient/1`.
  reference: { target: ['target_type', 'target_id', 'code', 'resource_type', 'rid'], url: ['resource_type', 'code', 'url'] },
  // ISO instants in text sort chronologically; range comparisons seek on start.
  // As migrations 0001 to 0010 made it; 0011 puts `span` first (DATE_LOOKUP_WITH_SPAN).
  date: { lookup: ['resource_type', 'code', 'start', 'end', 'rid'] },
  number: { lookup: ['resource_type', 'code', 'low', 'high'] },
  quantity: { lookup: ['resource_type', 'code', 'low', 'high'] },
  uri: { lookup: ['resource_type', 'code', 'value', 'rid'] },
};

/** Creates one `search_*` table as `name`, without its indexes. */
async function createTable(knex: Knex, kind: IndexKind, name: string): Promise<void> {
  const text = textColumn(isPostgres(knex));
  await knex.schema.createTable(name, (t) => {
    owner(t, text);
    COLUMNS[kind](t, text);
  });
}

/**
 * Indexes that leave out the rows whose named column is null (partial indexes, on both
 * engines). A reference row has a `url` only when its reference is to another server;
 * local references, nearly all of them, have none, and indexing their nulls only cost
 * writes: a search by URL (`url = ?`) implies a url, so the planners still use the index.
 * Migration `0009_reference_url_partial` makes it so on earlier databases.
 */
const NON_NULL_ONLY: Partial<Record<IndexKind, Record<string, string>>> = { reference: { url: 'url' } };

/** knex's options for index `suffix` of `kind`'s table: its predicate if it is partial. */
function indexOptions(knex: Knex, kind: IndexKind, suffix: string): { predicate: Knex.QueryBuilder } | undefined {
  const column = NON_NULL_ONLY[kind]?.[suffix];
  return column ? { predicate: knex.whereNotNull(column) } : undefined;
}

/** Creates the indexes of one `search_*` table (after loading it, when rebuilding: a sorted build is faster than row by row). */
async function createIndexes(knex: Knex, kind: IndexKind): Promise<void> {
  const table = SEARCH_TABLES[kind];
  await knex.schema.alterTable(table, (t) => {
    t.index(['rid'], `${table}_resource`);
    for (const [suffix, columns] of Object.entries(INDEXES[kind])) t.index(columns, `${table}_${suffix}`, indexOptions(knex, kind, suffix));
  });
}

/** Rebuilds the reference table's `url` index as a partial index (see `NON_NULL_ONLY`), or as a full one again. */
export async function setReferenceUrlIndex(knex: Knex, partial: boolean): Promise<void> {
  const table = SEARCH_TABLES.reference;
  await dropIndexes(knex, table, ['url']);
  await knex.schema.alterTable(table, (t) => {
    t.index(INDEXES.reference.url, `${table}_url`, partial ? indexOptions(knex, 'reference', 'url') : undefined);
  });
}

/**
 * Creates the `search_*` tables and their indexes, skipping those that exist (so a
 * migration can call it on a database that has some of them). Pass the migration's
 * knex or transaction.
 */
export async function createSearchTables(knex: Knex): Promise<void> {
  for (const [kind, table] of Object.entries(SEARCH_TABLES) as [IndexKind, string][]) {
    if (await knex.schema.hasTable(table)) continue;
    await createTable(knex, kind, table);
    await createIndexes(knex, kind);
  }
}

/**
 * Adds the `item` column to every `search_*` table (migration `0004_search_composites`):
 * the number of the composite item a component row belongs to, null on other rows
 * (see types.ts). Adding a nullable column without a default rewrites no rows on either
 * engine.
 */
export async function addItemColumns(knex: Knex): Promise<void> {
  for (const table of Object.values(SEARCH_TABLES)) {
    if (await knex.schema.hasColumn(table, 'item')) continue;
    await knex.schema.alterTable(table, (t) => void t.integer('item').nullable());
  }
}

/** Removes the `item` columns again (the migration's `down`). */
export async function dropItemColumns(knex: Knex): Promise<void> {
  for (const table of Object.values(SEARCH_TABLES)) {
    if (await knex.schema.hasColumn(table, 'item')) await knex.schema.alterTable(table, (t) => void t.dropColumn('item'));
  }
}

/** The value columns of each table in the order `COLUMNS` makes them: the tables of migrations 0001 to 0010. */
const FIRST_VALUE_COLUMNS: Readonly<Record<IndexKind, readonly string[]>> = {
  token: ['system', 'value'],
  string: ['value', 'exact'],
  reference: ['target_type', 'target_id', 'target_version', 'url'],
  date: ['start', 'end'],
  number: ['value', 'low', 'high'],
  quantity: ['system', 'unit_code', 'unit', 'value', 'low', 'high'],
  uri: ['value'],
};

/** The value columns of each table now, in insert order: the first ones, then `span` (migration 0011). */
export const VALUE_COLUMNS: Readonly<Record<IndexKind, readonly string[]>> = { ...FIRST_VALUE_COLUMNS, date: [...FIRST_VALUE_COLUMNS.date, 'span'] };

/**
 * The date table's query index since migration `0011_date_spans`: the class of the
 * row's range (`span`, see ranges.ts `spanOf`) before `start`, so that a search can
 * seek the short ranges, nearly all of them, between two instants (query/date.ts).
 */
const DATE_LOOKUP_WITH_SPAN = ['resource_type', 'code', 'span', 'start', 'end', 'rid'];

/**
 * Migration `0011_date_spans`: `search_date` with a `span` column, computed in SQL for
 * the rows there as `spanOf` does (shorter than a day or not), and the lookup index with
 * it. The rows are copied into a new table rather than updated: an update in place
 * would leave PostgreSQL a dead version of every row, which the new index, built in the
 * same transaction, would still point at until a vacuum. One copy, two index builds.
 */
export async function addDateSpans(knex: Knex): Promise<void> {
  const table = SEARCH_TABLES.date;
  if (await knex.schema.hasColumn(table, 'span')) return;
  const old = `${table}_before_spans`;
  await dropIndexes(knex, table, ['resource', 'lookup']);
  await knex.schema.renameTable(table, old);
  await createTable(knex, 'date', table);
  await knex.schema.alterTable(table, (t) => void t.integer('span').notNullable().defaultTo(SPAN_LONG));
  const shorter = isPostgres(knex)
    ? `(s."end"::timestamptz - s."start"::timestamptz) < interval '1 day'`
    : `julianday(s."end") - julianday(s."start") < 1.0`;
  const columns = ['rid', 'resource_type', 'code', 'item', ...FIRST_VALUE_COLUMNS.date];
  await knex.raw(
    `insert into ?? (${columns.map(() => '??').join(', ')}, span) select ${columns.map(() => '??').join(', ')}, case when ${shorter} then ${SPAN_SHORT} else ${SPAN_LONG} end from ?? as s`,
    [table, ...columns, ...columns.map((c) => `s.${c}`), old],
  );
  await knex.schema.dropTable(old);
  await knex.schema.alterTable(table, (t) => {
    t.index(['rid'], `${table}_resource`);
    t.index(DATE_LOOKUP_WITH_SPAN, `${table}_lookup`);
  });
  // A new table has no statistics until autovacuum gets to it; the planner needs them now.
  if (isPostgres(knex)) await knex.raw('analyze ??', [table]);
}

/** Back to the lookup index without `span`, and no `span` column (the migration's `down`). */
export async function dropDateSpans(knex: Knex): Promise<void> {
  const table = SEARCH_TABLES.date;
  if (!(await knex.schema.hasColumn(table, 'span'))) return;
  await dropIndexes(knex, table, ['lookup']);
  await knex.schema.alterTable(table, (t) => void t.dropColumn('span'));
  await knex.schema.alterTable(table, (t) => void t.index(INDEXES.date.lookup, `${table}_lookup`));
}

/**
 * Migration `0008_resource_keys`: rewrites every `search_*` table that still names its
 * resource by `(resource_type, resource_id)` to name it by `rid` (see `owner`). Rows are
 * copied with the key of their resource; a row whose resource is gone (none should be)
 * is dropped. The indexes are built after the copy. Run after `resources` has its keys.
 */
export async function keySearchTablesByRid(knex: Knex): Promise<void> {
  await rekey(knex, 'rid');
}

/** Back to `(resource_type, resource_id)` (the migration's `down`), through the same copy. */
export async function keySearchTablesByTextId(knex: Knex): Promise<void> {
  await rekey(knex, 'text id');
}

/** Copies each table that has the other key into a new table with key `to`, then indexes it. */
async function rekey(knex: Knex, to: 'rid' | 'text id'): Promise<void> {
  const byRid = to === 'rid';
  for (const [kind, table] of Object.entries(SEARCH_TABLES) as [IndexKind, string][]) {
    if ((await knex.schema.hasColumn(table, 'resource_id')) !== byRid) continue;
    const old = `${table}_before_rekey`;
    await dropIndexes(knex, table, ['resource', ...Object.keys(INDEXES[kind])]);
    await knex.schema.renameTable(table, old);
    if (byRid) await createTable(knex, kind, table);
    else await createTableByTextId(knex, kind, true);
    const values = FIRST_VALUE_COLUMNS[kind];
    const [keys, selected, join] = byRid
      ? [['rid', 'resource_type'], 'r.rid, s.resource_type', 'r.resource_type = s.resource_type and r.id = s.resource_id']
      : [['resource_type', 'resource_id'], 's.resource_type, r.id', 'r.rid = s.rid'];
    const columns = [...keys, 'code', 'item', ...values];
    await knex.raw(
      `insert into ?? (${columns.map(() => '??').join(', ')}) select ${selected}, s.code, s.item${values.map(() => ', ??').join('')} from ?? as s join resources as r on ${join}`,
      [table, ...columns, ...values.map((v) => `s.${v}`), old],
    );
    await knex.schema.dropTable(old);
    if (byRid) await createIndexes(knex, kind);
    else await createIndexesByTextId(knex, kind);
  }
}

/**
 * The tables as the first migration made them, their rows naming the resource by
 * `(resource_type, resource_id)`: what migrations `0001` to `0007` work on, and what
 * `0008`'s `down` goes back to. Skips tables that exist.
 */
export async function createSearchTablesByTextId(knex: Knex): Promise<void> {
  for (const [kind, table] of Object.entries(SEARCH_TABLES) as [IndexKind, string][]) {
    if (await knex.schema.hasTable(table)) continue;
    await createTableByTextId(knex, kind);
    await createIndexesByTextId(knex, kind);
  }
}

/** One table of the first shape; `item` only when asked (migration 0004 adds it to the first migration's tables). */
async function createTableByTextId(knex: Knex, kind: IndexKind, item = false): Promise<void> {
  const text = textColumn(isPostgres(knex));
  await knex.schema.createTable(SEARCH_TABLES[kind], (t) => {
    text(t, 'resource_type', ID_LENGTH).notNullable();
    text(t, 'resource_id', ID_LENGTH).notNullable();
    text(t, 'code', CODE_LENGTH).notNullable();
    COLUMNS[kind](t, text);
    if (item) t.integer('item').nullable();
  });
}

async function createIndexesByTextId(knex: Knex, kind: IndexKind): Promise<void> {
  const table = SEARCH_TABLES[kind];
  await knex.schema.alterTable(table, (t) => {
    t.index(['resource_type', 'resource_id'], `${table}_resource`);
    for (const [suffix, cols] of Object.entries(INDEXES[kind])) t.index(cols.filter((c) => c !== 'rid'), `${table}_${suffix}`);
  });
}

async function dropIndexes(knex: Knex, table: string, suffixes: string[]): Promise<void> {
  for (const suffix of suffixes) await dropQueryIndex(knex, { name: `${table}_${suffix}` });
}

/** Drops the `search_*` tables (a migration's `down`). */
export async function dropSearchTables(knex: Knex): Promise<void> {
  for (const table of Object.values(SEARCH_TABLES)) await knex.schema.dropTableIfExists(table);
}

/**
 * A query index of a `search_*` table: what searches seek on, as opposed to the
 * `_resource` index, which writes use to replace a resource's rows.
 */
export interface QueryIndex {
  name: string;
  table: string;
  columns: readonly string[];
  /** A partial index's predicate: the rows whose `column` is not null, or equals `equals`. */
  where?: { column: string; equals?: string };
}

/** The query indexes of each table now: the first ones, with the date lookup of migration 0011. */
const CURRENT_INDEXES: Readonly<Record<IndexKind, Record<string, string[]>>> = { ...INDEXES, date: { lookup: DATE_LOOKUP_WITH_SPAN } };

/** The query indexes of every `search_*` table, as the latest migration leaves them. */
export function queryIndexes(): QueryIndex[] {
  const out: QueryIndex[] = [];
  for (const [kind, table] of Object.entries(SEARCH_TABLES) as [IndexKind, string][]) {
    for (const [suffix, columns] of Object.entries(CURRENT_INDEXES[kind])) {
      const nonNull = NON_NULL_ONLY[kind]?.[suffix];
      out.push({ name: `${table}_${suffix}`, table, columns, ...(nonNull ? { where: { column: nonNull } } : {}) });
    }
  }
  return out;
}

/**
 * Creates `index` unless an index of its name exists (both engines take `if not exists`).
 * A predicate's value is written into the statement, since neither engine binds
 * parameters in DDL (and SQLite uses a partial index only for a query whose condition
 * names the same constant); it is one of this project's constants, quoted as SQL quotes.
 */
export async function createQueryIndex(knex: Knex, index: QueryIndex): Promise<void> {
  const columns = index.columns.map(() => '??').join(', ');
  const w = index.where;
  const where = !w ? '' : w.equals === undefined ? ' where ?? is not null' : ` where ?? = '${w.equals.replaceAll("'", "''")}'`;
  await knex.raw(`create index if not exists ?? on ?? (${columns})${where}`, [index.name, index.table, ...index.columns, ...(w ? [w.column] : [])]);
}

/** Drops the index named `index.name` if it exists. */
export async function dropQueryIndex(knex: Knex, index: Pick<QueryIndex, 'name'>): Promise<void> {
  await knex.raw('drop index if exists ??', [index.name]);
}
