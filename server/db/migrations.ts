import type { Knex } from 'knex';
import { createAuthTables, dropAuthTables } from '../../smart/db/schema.js';
import { createOptOutTable, dropOptOutTable } from '../../smart/optout.js';
import { createAuthVersion, dropAuthVersion } from '../../smart/db/auth-version.js';
import { createSearchParamStatusTables, dropSearchParamStatusTables } from '../search/readiness-table.js';
import { DEFERRAL_TABLE } from '../search/deferred-indexes.js';
import {
  addDateSpans,
  addItemColumns,
  createSearchTablesByTextId,
  dropDateSpans,
  dropItemColumns,
  keySearchTablesByRid,
  keySearchTablesByTextId,
  setReferenceUrlIndex,
} from '../search/schema.js';
import { addResourceKeys, dropResourceKeys, resourceColumns } from './keys.js';
import { isPostgres } from './dialect.js';

/**
 * Schema migrations, in order. Each runs once per database, recorded by knex in
 * `knex_migrations`; the same definitions build the SQLite and PostgreSQL schemas.
 * Timestamps are stored as UTC ISO-8601 text with milliseconds, which sorts and
 * compares the same way on both engines.
 */
const migrations: Record<string, { up(knex: Knex): Promise<void>; down(knex: Knex): Promise<void> }> = {
  '0001_resources': {
    async up(knex) {
      await knex.schema.createTable('resources', (t) => {
        resourceColumns(t);
        t.primary(['resource_type', 'id']);
        t.index(['resource_type', 'last_updated'], 'resources_type_updated');
        // Imports resolve `urn:uuid:` references to resources loaded earlier by id alone.
        t.index(['id'], 'resources_id');
      });
      await knex.schema.createTable('resource_history', (t) => {
        t.bigIncrements('seq').primary();
        t.string('resource_type', 64).notNullable();
        t.string('id', 64).notNullable();
        t.integer('version_id').notNullable();
        t.string('last_updated', 24).notNullable();
        t.boolean('deleted').notNullable().defaultTo(false);
        t.string('method', 8).notNullable();
        t.text('content').notNullable();
        t.unique(['resource_type', 'id', 'version_id'], { indexName: 'history_version' });
        t.index(['resource_type', 'seq'], 'history_type_seq');
        t.index(['last_updated'], 'history_updated');
      });
      // The first statement of every SQLite write transaction updates this row, so the
      // write lock is taken up front and a busy database waits instead of failing.
      await knex.schema.createTable('kiln_lock', (t) => {
        t.integer('id').primary();
        t.bigInteger('n').notNullable();
      });
      await knex('kiln_lock').insert({ id: 1, n: 0 });
      await createSearchTablesByTextId(knex);
    },
    async down(knex) {
      for (const t of ['kiln_lock', 'resource_history', 'resources']) await knex.schema.dropTableIfExists(t);
    },
  },
  '0002_auth': {
    up: createAuthTables,
    down: dropAuthTables,
  },
  '0003_patient_opt_out': {
    up: createOptOutTable,
    down: dropOptOutTable,
  },
  '0004_search_composites': {
    up: addItemColumns,
    down: dropItemColumns,
  },
  '0005_search_param_status': {
    up: createSearchParamStatusTables,
    down: dropSearchParamStatusTables,
  },
  '0006_resource_key_collation': {
    up: (knex) => setKeyCollation(knex, 'C'),
    down: (knex) => setKeyCollation(knex, 'default'),
  },
  '0007_search_statistics': {
    up: createSearchStatistics,
    down: dropSearchStatistics,
  },
  // Integer resource keys, and the search index rows keyed by them (db/keys.ts).
  '0008_resource_keys': {
    async up(knex) {
      await addResourceKeys(knex);
      await dropSearchStatistics(knex);
      await keySearchTablesByRid(knex);
      await createSearchStatistics(knex);
    },
    async down(knex) {
      await dropSearchStatistics(knex);
      await keySearchTablesByTextId(knex);
      await dropResourceKeys(knex);
      await createSearchStatistics(knex);
    },
  },
  // Reference rows without a url (local references) leave the url index (search/schema.ts).
  '0009_reference_url_partial': {
    up: (knex) => setReferenceUrlIndex(knex, true),
    down: (knex) => setReferenceUrlIndex(knex, false),
  },
  // PostgreSQL: a version of the authorization state, raised by triggers (db/auth-version.ts).
  '0010_auth_version': {
    up: createAuthVersion,
    down: dropAuthVersion,
  },
  // Date index rows say whether their range is shorter than a day (search/schema.ts).
  '0011_date_spans': {
    up: addDateSpans,
    down: dropDateSpans,
  },
  // Bulk loads that have the search query indexes away say so (search/deferred-indexes.ts).
  '0012_index_deferrals': {
    async up(knex) {
      await knex.schema.createTable(DEFERRAL_TABLE, (t) => {
        t.string('owner', 36).primary();
        t.integer('pid').notNullable();
        t.string('host', 255).notNullable();
        t.string('until', 24).notNullable();
      });
    },
    async down(knex) {
      await knex.schema.dropTableIfExists(DEFERRAL_TABLE);
    },
  },
  // The current version's JSON is kept in `resources` only (db/store.ts). Changes no rows:
  // it stops a process of an earlier release from starting on a database whose history
  // rows it would read as empty. Going down copies the current JSON back into them.
  '0013_history_current_once': {
    async up() {},
    async down(knex) {
      await knex.raw(
        `update "resource_history" set "content" = (select r."content" from "resources" r ` +
          `where r."resource_type" = "resource_history"."resource_type" and r."id" = "resource_history"."id" ` +
          `and r."version_id" = "resource_history"."version_id") where "content" = ''`,
      );
    },
  },
};

/**
 * PostgreSQL only: statistics on the columns of the token and reference index tables
 * taken together (https://www.postgresql.org/docs/current/planner-stats.html#PLANNER-STATS-EXTENDED).
 * Their conditions always come together (`resource_type`, `code`, then system and value
 * or target type and id), and are far from independent: `code=8867-4` also implies its
 * system, type and parameter code. Multiplying their separate frequencies, PostgreSQL
 * estimated 61 Observations with that code where there were 873, drove a patient's
 * search from them and probed each for the patient: 10 ms instead of 3.
 */
const SEARCH_STATISTICS: Record<string, string[]> = {
  search_token: ['resource_type', 'code', 'system', 'value'],
  search_reference: ['resource_type', 'code', 'target_type', 'target_id'],
};

async function createSearchStatistics(knex: Knex): Promise<void> {
  if (!isPostgres(knex)) return;
  for (const [table, columns] of Object.entries(SEARCH_STATISTICS)) {
    await knex.raw(`create statistics if not exists ?? (mcv, dependencies) on ${columns.map(() => '??').join(', ')} from ??`, [`${table}_combined`, ...columns, table]);
    await knex.raw('analyze ??', [table]);
  }
}

async function dropSearchStatistics(knex: Knex): Promise<void> {
  if (!isPostgres(knex)) return;
  for (const table of Object.keys(SEARCH_STATISTICS)) await knex.raw('drop statistics if exists ??', [`${table}_combined`]);
}

/**
 * PostgreSQL only: the key columns of `resources` and `resource_history` in the "C"
 * collation, as the search index tables' are (see search/schema.ts). Search joins index
 * rows to `resources` on `(resource_type, id)`; with two collations PostgreSQL cannot
 * use the primary key for that join, and a search by one patient read every row of the
 * type instead (a hash join over a sequential scan: 20 ms instead of 2 ms on 15,000
 * Observations). Bytewise order is also what SQLite's BINARY gives, so ids sort alike on
 * both engines. The indexes on these columns are rebuilt; the table data is not.
 */
async function setKeyCollation(knex: Knex, collation: 'C' | 'default'): Promise<void> {
  if (!isPostgres(knex)) return;
  for (const table of ['resources', 'resource_history']) {
    await knex.raw(
      `alter table ?? alter column resource_type type varchar(64) collate "${collation}", alter column id type varchar(64) collate "${collation}"`,
      [table],
    );
  }
}

const source: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => migrations[name],
};

/**
 * Brings the schema up to date. Several processes may start at once on one PostgreSQL
 * database: the one that holds knex's migration lock runs them, the others wait for it.
 */
export async function migrate(knex: Knex): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await knex.migrate.latest({ migrationSource: source });
      return;
    } catch (err) {
      const locked = err instanceof Error && err.name === 'MigrationLocked';
      if (!locked || attempt > 100) throw err;
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
    }
  }
}

/** Runs the migrations up to and including `last`, and no further (for tests of a migration). */
export async function migrateTo(knex: Knex, last: string): Promise<void> {
  if (!(last in migrations)) throw new Error(`no migration ${last}`);
  for (;;) {
    const [done] = (await knex.migrate.list({ migrationSource: source })) as [{ name: string }[], unknown[]];
    if (done.some((m) => m.name === last)) return;
    await knex.migrate.up({ migrationSource: source });
  }
}

/** Undoes the migrations that ran, latest first, down to and including `name` (for tests of a migration's `down`). */
export async function migrateDownThrough(knex: Knex, name: string): Promise<void> {
  if (!(name in migrations)) throw new Error(`no migration ${name}`);
  for (;;) {
    const [done] = (await knex.migrate.list({ migrationSource: source })) as [{ name: string }[], unknown[]];
    if (!done.some((m) => m.name === name)) return;
    await knex.migrate.down({ migrationSource: source });
  }
}

/** True when every known migration has run (for `/readyz`). */
export async function migrationsDone(knex: Knex): Promise<boolean> {
  const [, pending] = (await knex.migrate.list({ migrationSource: source })) as [unknown[], unknown[]];
  return pending.length === 0;
}
