import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { Knex } from 'knex';
import { connect } from '../../server/db/connect.js';
import { CommitGroup } from '../../server/import/group.js';
import { engines, freshDatabase, type TestDatabase } from '../helpers/db.js';

/**
 * Group commit: consecutive import units share a transaction. A unit that fails while
 * writing leaves nothing of itself, the others commit, and nothing is visible before the
 * commit. What `kiln import` reports of it is in load.test.ts.
 */
describe.each(engines())('import group commit (%s)', (engine) => {
  let database: TestDatabase;

  beforeEach(async () => {
    database = await freshDatabase(engine);
    await database.db.knex.schema.createTable('kiln_lock', (t) => {
      t.integer('id').primary();
      t.bigInteger('n');
    });
    await database.db.knex('kiln_lock').insert({ id: 1, n: 0 });
    await database.db.knex.schema.createTable('group_probe', (t) => t.string('unit'));
  });
  afterEach(async () => {
    await database.drop();
  });

  /** Rows of the probe table as another connection sees them (only what is committed). */
  async function committedUnits(): Promise<string[]> {
    const other = connect(database.url);
    try {
      return (await other.knex('group_probe').orderBy('unit').select('unit')).map((r: { unit: string }) => r.unit);
    } finally {
      await other.close();
    }
  }

  /** A unit writing two rows named after it; `failAt` makes it throw after writing, `loads` counts its loads. */
  function probeUnit(name: string, opts: { failAt?: 'load'; failOnReload?: boolean; loads?: Map<string, number>; failed?: string[] } = {}) {
    const loads = opts.loads ?? new Map<string, number>();
    return {
      resources: 1,
      load: async (trx: Knex.Transaction) => {
        const n = (loads.get(name) ?? 0) + 1;
        loads.set(name, n);
        await trx('group_probe').insert({ unit: name });
        await trx('group_probe').insert({ unit: `${name}-2` });
        if (opts.failAt === 'load') throw new Error(`${name} failed after writing`);
        if (opts.failOnReload && n > 1) throw new Error(`${name} failed when loaded again`);
        return name;
      },
      done: (r: string) => r,
      failed: (err: unknown) => opts.failed?.push(`${name}: ${(err as Error).message}`),
    };
  }

  it('rolls back a unit that fails while writing, loads the units before it again, and commits them with the rest', async () => {
    const group = new CommitGroup<string>(database.db, 100, 60_000);
    const loads = new Map<string, number>();
    await group.run(probeUnit('a', { loads }));
    await group.run(probeUnit('b', { loads }));
    await expect(group.run(probeUnit('c', { failAt: 'load', loads }))).rejects.toThrow('c failed after writing');
    expect(Object.fromEntries(loads)).toEqual({ a: 2, b: 2, c: 1 });
    await group.run(probeUnit('d', { loads }));
    // Until the commit each unit has a savepoint: a second failure undoes only itself.
    await expect(group.run(probeUnit('e', { failAt: 'load', loads }))).rejects.toThrow('e failed after writing');
    await group.run(probeUnit('f', { loads }));
    expect(Object.fromEntries(loads)).toEqual({ a: 2, b: 2, c: 1, d: 1, e: 1, f: 1 });
    expect(await committedUnits()).toEqual([]);
    expect(await group.commit()).toEqual(['a', 'b', 'd', 'f']);
    expect(await committedUnits()).toEqual(['a', 'a-2', 'b', 'b-2', 'd', 'd-2', 'f', 'f-2']);
    expect(await group.commit()).toEqual([]);
  });

  it('reports a unit that fails when loaded again, and keeps the others', async () => {
    const group = new CommitGroup<string>(database.db, 100, 60_000);
    const failed: string[] = [];
    await group.run(probeUnit('a', { failed }));
    await group.run(probeUnit('b', { failOnReload: true, failed }));
    await group.run(probeUnit('c', { failed }));
    await expect(group.run(probeUnit('d', { failAt: 'load', failed }))).rejects.toThrow('d failed after writing');
    expect(failed).toEqual(['b: b failed when loaded again']);
    expect(await group.commit()).toEqual(['a', 'c']);
    expect(await committedUnits()).toEqual(['a', 'a-2', 'c', 'c-2']);
  });

  it('is due once it holds enough resources', async () => {
    const group = new CommitGroup<string>(database.db, 3, 60_000);
    expect(group.due).toBe(false);
    await group.run({ ...probeUnit('x'), resources: 2 });
    expect(group.due).toBe(false);
    await group.run(probeUnit('y'));
    expect(group.due).toBe(true);
    await group.abandon();
    expect(group.due).toBe(false);
    expect(await committedUnits()).toEqual([]);
  });
});
