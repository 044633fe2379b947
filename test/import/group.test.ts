import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import BetterSqlite3 from 'better-sqlite3';
import { connect } from '../../server/db/connect.js';
import { CommitGroup } from '../../server/import/group.js';
import { engines, freshDatabase, type TestDatabase } from '../helpers/db.js';
import { bundle, FileSet, harness, observation, patient, uuid, uuidEntry, type ImportHarness } from './fixtures.js';

/**
 * Group commit: consecutive import units share a transaction, each in a savepoint. A unit
 * that fails after writing leaves nothing of itself, the others commit, and nothing is
 * visible (or reported) before the commit.
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

describe.each(engines())('kiln import with shared transactions (%s)', (engine) => {
  let h: ImportHarness;
  let files: FileSet;

  beforeEach(async () => {
    h = await harness(engine);
    files = new FileSet();
  });
  afterEach(async () => {
    await h.close();
    files.remove();
  });

  it('reports files only once they are visible to others, and a bad file in the middle leaves nothing', async () => {
    const ids: string[] = [];
    for (let f = 0; f < 5; f++) {
      const p = uuid();
      ids.push(p);
      const obs = f === 2 ? { ...observation(`urn:uuid:${p}`), status: 'not-a-status' } : observation(`urn:uuid:${p}`);
      files.json(`f${f}.json`, bundle([uuidEntry('Patient', p, patient(`G${f}`)), uuidEntry('Observation', uuid(), obs)]));
    }
    // The callback is synchronous; on SQLite another connection can look at once.
    const peek = engine === 'sqlite' ? new BetterSqlite3(h.database.url.slice('sqlite:'.length), { readonly: true }) : undefined;
    const reported: string[] = [];
    const visibleWhenReported: number[] = [];
    const summary = await h.run([files.dir], {
      commitResources: 1000,
      onCommitted: (file) => {
        reported.push(file.path.split('/').pop() as string);
        const row = peek?.prepare('select count(*) as n from resources where id in (' + ids.map(() => '?').join(',') + ')').get(...ids) as { n: number } | undefined;
        if (row) visibleWhenReported.push(row.n);
      },
    });
    peek?.close();
    expect(reported).toEqual(['f0.json', 'f1.json', 'f3.json', 'f4.json']);
    // All four files shared one transaction: each was reported once all of them were stored.
    if (engine === 'sqlite') expect(visibleWhenReported).toEqual([4, 4, 4, 4]);
    const other = connect(h.database.url);
    try {
      const stored = (await other.knex('resources').whereIn('id', ids).select('id')).map((r: { id: string }) => r.id);
      expect(new Set(stored)).toEqual(new Set([ids[0], ids[1], ids[3], ids[4]]));
    } finally {
      await other.close();
    }
    expect(summary.failed.map((f) => f.file.path.split('/').pop())).toEqual(['f2.json']);
    expect(summary.files.map((f) => f.resources)).toEqual([2, 2, 0, 2, 2]);
    expect(await h.count('Provenance')).toBe(4);
  });
});
