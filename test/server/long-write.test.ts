import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { bulkObserver } from '../../server/db/bulk.js';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';

/**
 * A write of hundreds of thousands of index rows on SQLite, whose statements are
 * synchronous, gives the event loop turns while it runs: other requests (a health check,
 * a read from the read-only connection) are answered meanwhile instead of after it.
 */
describe('a long write on SQLite', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp('sqlite', { KILN_SAMPLE_DATA: 'false' });
  });
  afterAll(async () => {
    bulkObserver.statement = undefined;
    await t.stop();
  });

  it('lets the event loop run between its statements, so a read is answered meanwhile', async () => {
    const before = await fhirFetch(t, 'Patient', { method: 'POST', body: { resourceType: 'Patient', name: [{ family: 'Before' }] } });
    let statements = 0;
    let timerRanAfter: number | undefined;
    let readDuring: Promise<{ status: number }> | undefined;
    let readDone = false;
    let writeDone = false;
    bulkObserver.statement = () => {
      statements++;
      if (statements !== 1) return;
      // Runs only when the event loop turns: with no turns, after the last statement.
      setTimeout(() => {
        timerRanAfter = statements;
        // A read by id, from the read-only connection.
        readDuring = fhirFetch(t, `Patient/${before.body.id}`).then((r) => {
          readDone = !writeDone;
          return r;
        });
      }, 0);
    };
    // About 300,000 index rows (names, families, givens, phonetics) in many statements.
    const name = Array.from({ length: 60_000 }, (_, i) => ({ family: `F${i}`, given: [`G${i}`] }));
    const big = await fhirFetch(t, 'Patient', { method: 'POST', body: { resourceType: 'Patient', name }, headers: { prefer: 'return=minimal' } });
    writeDone = true;
    bulkObserver.statement = undefined;
    expect(big.status).toBe(201);
    expect(timerRanAfter).toBeDefined();
    expect(timerRanAfter as number).toBeLessThan(statements);
    // The read was answered while the write went on.
    expect((await readDuring!).status).toBe(200);
    expect(readDone).toBe(true);
    expect((await fhirFetch(t, 'Patient?_count=10')).body.entry).toHaveLength(2);
  });
});
