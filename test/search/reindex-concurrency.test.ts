import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { inTransaction } from '../../server/db/transaction.js';
import { reindex } from '../../server/search/reindex.js';
import { WriteSession } from '../../server/service/types.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { ids, putAll } from './query-fixtures.js';
import { DATA, eventually } from './reindex-fixtures.js';

/**
 * A reindex next to a writer: a resource a write transaction holds is rebuilt once that
 * transaction has committed, from what it committed, and neither waits for the other
 * while holding locks the other needs.
 */

describe.each(engines())('kiln reindex next to a writer (%s)', (engine) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(engine);
    await putAll(t, DATA);
  });
  afterAll(() => t?.stop());

  it('rebuilds a resource held by a write transaction from what that transaction commits', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let holding!: () => void;
    const held = new Promise<void>((resolve) => (holding = resolve));
    const p3 = DATA.find((r) => r.id === 'p3')!;
    const writing = inTransaction(t.app.db, async (trx) => {
      await t.app.resources.update(new WriteSession(trx, new Date().toISOString()), { ...p3, gender: 'other' });
      holding();
      await gate;
    });
    await held;
    let finished = false;
    const rebuilding = reindex(t.app.db, { all: true, types: ['Patient'], batchSize: 10 }).finally(() => (finished = true));
    await new Promise((r) => setTimeout(r, 500));
    expect(finished).toBe(false);
    release();
    await writing;
    const summary = await rebuilding;
    expect(summary.resources).toBe(5);
    expect(summary.pending).toEqual([]);
    await eventually(async () => (await ids(t, 'Patient?gender=other').catch(() => [])).length > 0);
    expect(await ids(t, 'Patient?gender=other')).toEqual(['p3']);
    expect(await ids(t, 'Patient?gender=female')).toEqual(['p1', 'p5']);
  });
});
