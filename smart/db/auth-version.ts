import type { Knex } from 'knex';
import { AUTH_VERSION_TABLE } from '../../server/db/auth-version.js';
import { OPT_OUT_TABLE } from '../optout.js';
import { AUTH_TABLES } from './schema.js';
import { isPostgres } from '../../server/db/dialect.js';

/**
 * Migration `0010_auth_version`, PostgreSQL only: the authorization state's version
 * (server/db/auth-version.ts) and the triggers that raise it. SQLite needs none: its
 * `PRAGMA data_version` changes with every commit.
 *
 * What raises it is every statement that may end a checked token's life: an update or
 * delete of an access token, a client-credentials token or a grant (revocation, the
 * expiry sweep, a replayed code revoking its grant); a change to a client or a user;
 * any change to the opt-outs; a truncate of any of these tables. The triggers run in
 * the changing transaction, so the new version becomes visible with the change itself,
 * never before it.
 */

const BUMP = 'kiln_auth_version_bump';
const BUMP_MODELS = 'kiln_auth_version_bump_models';
/** Model kinds the token check reads: the token itself and its grant. */
const CHECKED_KINDS = ['AccessToken', 'ClientCredentials', 'Grant'];
/**
 * Tables any change of which counts, and their events: a new client or user ends no
 * token, a new opt-out does.
 */
const WHOLE_TABLES: [string, string][] = [
  [AUTH_TABLES.clients, 'update or delete or truncate'],
  [AUTH_TABLES.users, 'update or delete or truncate'],
  [OPT_OUT_TABLE, 'insert or update or delete or truncate'],
];

export async function createAuthVersion(knex: Knex): Promise<void> {
  if (!isPostgres(knex)) return;
  await knex.schema.createTable(AUTH_VERSION_TABLE, (t) => {
    t.integer('id').primary();
    t.bigInteger('version').notNullable();
  });
  await knex(AUTH_VERSION_TABLE).insert({ id: 1, version: 0 });
  // In the schema of the table that fired: a trigger runs with the search_path of whoever
  // changes the table, which may be an operator's psql session that names Kiln's tables
  // in full, and the schema may be renamed or restored under another name.
  const bump = `execute format('update %I.${AUTH_VERSION_TABLE} set version = version + 1 where id = 1', TG_TABLE_SCHEMA)`;
  await knex.raw(`create function ${BUMP}() returns trigger language plpgsql as $$ begin ${bump}; return null; end $$`);
  // Statement-level, with the old rows as a table: a sweep deleting thousands of rows
  // raises the version once, and sessions or interactions changing raise it not at all.
  const kinds = CHECKED_KINDS.map((k) => `'${k}'`).join(', ');
  await knex.raw(
    `create function ${BUMP_MODELS}() returns trigger language plpgsql as $$ begin ` +
      `if exists (select 1 from old_rows where kind in (${kinds})) then ${bump}; end if; return null; end $$`,
  );
  const models = AUTH_TABLES.models;
  for (const event of ['update', 'delete']) {
    await knex.raw(`create trigger ?? after ${event} on ?? referencing old table as old_rows for each statement execute function ${BUMP_MODELS}()`, [`${models}_auth_${event}`, models]);
  }
  await knex.raw(`create trigger ?? after truncate on ?? for each statement execute function ${BUMP}()`, [`${models}_auth_truncate`, models]);
  for (const [table, events] of WHOLE_TABLES) {
    await knex.raw(`create trigger ?? after ${events} on ?? for each statement execute function ${BUMP}()`, [`${table}_auth`, table]);
  }
}

export async function dropAuthVersion(knex: Knex): Promise<void> {
  if (!isPostgres(knex)) return;
  const models = AUTH_TABLES.models;
  for (const suffix of ['update', 'delete', 'truncate']) await knex.raw('drop trigger if exists ?? on ??', [`${models}_auth_${suffix}`, models]);
  for (const [table] of WHOLE_TABLES) await knex.raw('drop trigger if exists ?? on ??', [`${table}_auth`, table]);
  await knex.raw(`drop function if exists ${BUMP_MODELS}()`);
  await knex.raw(`drop function if exists ${BUMP}()`);
  await knex.schema.dropTableIfExists(AUTH_VERSION_TABLE);
}
