import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import BetterSqlite3 from 'better-sqlite3';
import { IDENTIFIER_INDEX } from '../../server/search/deferred-indexes.js';
import { queryIndexes } from '../../server/search/schema.js';
import { seed } from '../../server/seed/load.js';
import { engines } from '../helpers/db.js';
import { harness, type ImportHarness } from '../import/fixtures.js';

/** `kiln seed` writing into a database: a seed larger than what is stored builds the search indexes after its rows (SQLite). */
describe.each(engines())('seeding (%s)', (engine) => {
  let h: ImportHarness;

  beforeEach(async () => {
    h = await harness(engine);
  });
  afterEach(async () => {
    await h.close();
  });

  it('ends with every query index in place, and on SQLite has them away while it writes into an empty database', async () => {
    const lookups = queryIndexes().map((i) => i.name);
    const peek = engine === 'sqlite' ? new BetterSqlite3(h.database.url.slice('sqlite:'.length), { readonly: true }) : undefined;
    const seen: boolean[] = [];
    try {
      const total = await seed(h.app, { patients: 2, seed: 7 }, () => {
        if (!peek) return;
        const names = (peek.prepare("select name from sqlite_master where type = 'index'").all() as { name: string }[]).map((r) => r.name);
        seen.push(lookups.every((n) => !names.includes(n)) && names.includes(IDENTIFIER_INDEX.name));
      });
      expect(total).toBeGreaterThan(100);
      if (peek) expect(seen.length > 0 && seen.every(Boolean)).toBe(true);
    } finally {
      peek?.close();
    }
    const knex = h.database.db.knex;
    const names =
      engine === 'sqlite'
        ? (await knex('sqlite_master').where('type', 'index').select('name')).map((r: { name: string }) => r.name)
        : ((await knex.raw('select indexname as name from pg_indexes where schemaname = current_schema()')) as { rows: { name: string }[] }).rows.map((r) => r.name);
    expect(names).toEqual(expect.arrayContaining(lookups));
    expect(names).not.toContain(IDENTIFIER_INDEX.name);
    expect(await h.count('Patient')).toBe(2);
  });
});
