/**
 * Which engine a knex instance or query builder speaks to, for the few statements whose
 * SQL differs between SQLite and PostgreSQL (DDL, index hints, statistics). Code that
 * has the `Database` asks `db.engine` instead.
 */
export function isPostgres(knex: { client: { dialect: string } }): boolean {
  return knex.client.dialect === 'postgresql';
}
