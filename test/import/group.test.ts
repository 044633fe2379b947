import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { connect } from '../../server/db/connect.js';
import { CommitGroup } from '../../server/import/group.js';
import { engines, freshDatabase, type TestDatabase } from '../helpers/db.js';

/**
 * Group commit: consecutive import units share a transaction, each in a savepoint. A unit
 * that fails after writing leaves nothing of itself, the others commit, and nothing is
 * visible before the commit. What `kiln import` reports of it is in load.test.ts.
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

  it('rolls back a failing unit to its savepoint and commits the others together', async () => {
    const group = new CommitGroup<string>(database.db, 100);
    const unit = (name: string, fail = false) =>
      group.run(
        1,
        async (trx) => {
          await trx('group_probe').insert({ unit: name });
          await trx('group_probe').insert({ unit: `${name}-2` });
          if (fail) throw new Error(`${name} failed after writing`);
          return name;
        },
        (r) => r,
      );
    await unit('a');
    await expect(unit('b', true)).rejects.toThrow('b failed after writing');
    await unit('c');
    expect(await committedUnits()).toEqual([]);
    expect(await group.commit()).toEqual(['a', 'c']);
    expect(await committedUnits()).toEqual(['a', 'a-2', 'c', 'c-2']);
    expect(await group.commit()).toEqual([]);
  });

  it('is due once it holds enough resources', async () => {
    const group = new CommitGroup<number>(database.db, 3, 60_000);
    expect(group.due).toBe(false);
    await group.run(2, async (trx) => trx('group_probe').insert({ unit: 'x' }), () => 2);
    expect(group.due).toBe(false);
    await group.run(1, async (trx) => trx('group_probe').insert({ unit: 'y' }), () => 1);
    expect(group.due).toBe(true);
    await group.abandon();
    expect(group.due).toBe(false);
    expect(await committedUnits()).toEqual([]);
  });
});
