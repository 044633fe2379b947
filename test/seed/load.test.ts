import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import BetterSqlite3 from 'better-sqlite3';
import { IDENTIFIER_INDEX } from '../../server/search/deferred-indexes.js';
import { queryIndexes } from '../../server/search/schema.js';
import { seed } from '../../server/seed/load.js';
import { TEST_SECRET_KEY } from '../helpers/app.js';
import { engines, freshDatabase } from '../helpers/db.js';
import { runKiln } from '../helpers/kiln.js';
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

  it('stops after the transaction in flight once its signal is aborted, and the same seed again writes the rest', async () => {
    const knex = h.database.db.knex;
    const count = async (table: string) => Number((await knex(table).count({ n: '*' }))[0].n);
    // The server's own Device is there from the start.
    const [resources, history] = [await count('resources'), await count('resource_history')];
    const stop = new AbortController();
    const first = await seed(h.app, { patients: 30, seed: 7 }, () => stop.abort('SIGINT'), stop.signal);
    expect(await count('resources')).toBe(resources + first);
    expect(await h.count('Patient')).toBeLessThan(30);
    const again = await seed(h.app, { patients: 30, seed: 7 });
    expect(await h.count('Patient')).toBe(30);
    // What the first run wrote is written again unchanged: no new versions.
    expect(await count('resources')).toBe(resources + again);
    expect(await count('resource_history')).toBe(history + again);
  });
});

describe('kiln seed stopped with Ctrl-C (sqlite)', () => {
  it('commits the transaction in flight, builds the search indexes, says so and exits 130', async () => {
    const database = await freshDatabase('sqlite');
    await database.db.knex.raw('select 1'); // creates the file, for the read-only peek below
    await database.db.close();
    const peek = new BetterSqlite3(database.url.slice('sqlite:'.length), { readonly: true });
    const count = (sql: string) => (peek.prepare(sql).get() as { n: number }).n;
    try {
      let signal: ((s: NodeJS.Signals) => void) | undefined;
      const running = runKiln(['seed', '--patients', '40', '--seed', '3'], {
        env: { DATABASE_URL: database.url, KILN_SECRET_KEY: TEST_SECRET_KEY },
        started: (kill) => (signal = kill),
      });
      // Once the first transaction (5,000 resources) has committed.
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && (count("select count(*) as n from sqlite_master where name = 'resources'") === 0 || count('select count(*) as n from resources') === 0)) {
        await new Promise((r) => setTimeout(r, 10));
      }
      signal?.('SIGINT');
      const run = await running;
      if (run.code !== 130) throw new Error(`kiln seed exited with ${run.code ?? run.signal} after SIGINT; stdout: ${run.stdout} stderr: ${run.stderr}`);
      expect(run.stderr).toContain('SIGINT: stopping after the transaction being written');
      expect(run.stdout).toMatch(/^seeded part of 40 patients: \d+ resources in [\d.]+ s \(\d+\/s\); interrupted: run the same seed again to write the rest\n$/);
      const patients = count("select count(*) as n from resources where resource_type = 'Patient'");
      expect(patients).toBeGreaterThan(0);
      expect(patients).toBeLessThan(40);
      const names = (peek.prepare("select name from sqlite_master where type = 'index'").all() as { name: string }[]).map((r) => r.name);
      expect(names).toEqual(expect.arrayContaining(queryIndexes().map((i) => i.name)));
      expect(names).not.toContain(IDENTIFIER_INDEX.name);
    } finally {
      peek.close();
      await database.drop();
    }
  }, 60_000);
});
