import type { Knex } from 'knex';
import { MAX_INDEXED_TEXT, MAX_INDEXED_URL, type IndexKind } from './types.js';

/**
 * The search index tables: one per search parameter type, each row one value of one
 * parameter of one resource (https://hl7.org/fhir/R4/search.html#ptypes). Built with
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

/** Columns every table starts with; `(resource_type, resource_id)` finds a resource's rows to replace them. */
function owner(t: Table, text: Text, table: string): void {
  text(t, 'resource_type', ID_LENGTH).notNullable();
  text(t, 'resource_id', ID_LENGTH).notNullable();
  text(t, 'code', CODE_LENGTH).notNullable();
  t.index(['resource_type', 'resource_id'], `${table}_resource`);
}

/** The value columns and query indexes of each table. */
const DEFINE: Record<IndexKind, (t: Table, text: Text, table: string) => void> = {
  // `code=system|value`, `code=value`, `code=system|` all seek on (code, value[, system]).
  token(t, text, table) {
    text(t, 'system', MAX_INDEXED_TEXT).nullable();
    text(t, 'value', MAX_INDEXED_TEXT).nullable();
    t.index(['resource_type', 'code', 'value', 'system'], `${table}_lookup`);
  },
  // Default string search is a prefix match on `value`; `:exact` seeks `value` too and then compares `exact`.
  string(t, text, table) {
    text(t, 'value', MAX_INDEXED_TEXT).notNullable();
    text(t, 'exact', MAX_INDEXED_TEXT).notNullable();
    t.index(['resource_type', 'code', 'value'], `${table}_lookup`);
  },
  // Target first: `_revinclude` and `_has` ask "who points at Patient/1 through `code`?";
  // with resource_type last the same index serves `Observation?subject=Patient/1`.
  reference(t, text, table) {
    text(t, 'target_type', ID_LENGTH).nullable();
    text(t, 'target_id', ID_LENGTH).nullable();
    text(t, 'target_version', ID_LENGTH).nullable();
    text(t, 'url', MAX_INDEXED_URL).nullable();
    t.index(['target_type', 'target_id', 'code', 'resource_type'], `${table}_target`);
    t.index(['resource_type', 'code', 'url'], `${table}_url`);
  },
  // ISO instants in text sort chronologically; range comparisons seek on start.
  date(t, text, table) {
    text(t, 'start', INSTANT_LENGTH).notNullable();
    text(t, 'end', INSTANT_LENGTH).notNullable();
    t.index(['resource_type', 'code', 'start', 'end'], `${table}_lookup`);
  },
  number(t, _text, table) {
    t.double('value').nullable();
    t.double('low').nullable();
    t.double('high').nullable();
    t.index(['resource_type', 'code', 'low', 'high'], `${table}_lookup`);
  },
  quantity(t, text, table) {
    text(t, 'system', MAX_INDEXED_TEXT).nullable();
    text(t, 'unit_code', MAX_INDEXED_TEXT).nullable();
    text(t, 'unit', MAX_INDEXED_TEXT).nullable();
    t.double('value').nullable();
    t.double('low').nullable();
    t.double('high').nullable();
    t.index(['resource_type', 'code', 'low', 'high'], `${table}_lookup`);
  },
  uri(t, text, table) {
    text(t, 'value', MAX_INDEXED_URL).notNullable();
    t.index(['resource_type', 'code', 'value'], `${table}_lookup`);
  },
};

function isPostgres(knex: Knex): boolean {
  return knex.client.dialect === 'postgresql';
}

/**
 * Creates the `search_*` tables and their indexes, skipping those that exist (so a
 * migration can call it on a database that has some of them). Pass the migration's
 * knex or transaction.
 */
export async function createSearchTables(knex: Knex): Promise<void> {
  const text = textColumn(isPostgres(knex));
  for (const [kind, table] of Object.entries(SEARCH_TABLES) as [IndexKind, string][]) {
    if (await knex.schema.hasTable(table)) continue;
    await knex.schema.createTable(table, (t) => {
      owner(t, text, table);
      DEFINE[kind](t, text, table);
    });
  }
}

/**
 * Adds the `item` column to every `search_*` table (migration `0004_search_composites`):
 * the number of the composite item a component row belongs to, null on other rows
 * (see types.ts). A component row is found by `(resource_type, resource_id)` and compared
 * on `code` and `item`, so the `_resource` index serves it and no new index is needed.
 * Adding a nullable column without a default rewrites no rows on either engine.
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

/** Drops the `search_*` tables (a migration's `down`). */
export async function dropSearchTables(knex: Knex): Promise<void> {
  for (const table of Object.values(SEARCH_TABLES)) await knex.schema.dropTableIfExists(table);
}
