import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import BetterSqlite3 from 'better-sqlite3';
import { normalizeError } from '../../server/errors.js';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';

/**
 * A write that finds SQLite's write lock held for longer than it waits (busy_timeout,
 * 10 s), as during an index build at the end of a large import: a 503 with Retry-After
 * and nothing written, never a 500.
 */
describe('a busy SQLite database', () => {
  let t: TestApp;
  let other: BetterSqlite3.Database;

  beforeAll(async () => {
    t = await startTestApp('sqlite', { KILN_SAMPLE_DATA: 'false' });
    other = new BetterSqlite3(t.database.url.slice('sqlite:'.length));
  });
  afterAll(async () => {
    other.close();
    await t.stop();
  });

  it('maps the driver error itself to a 503 that says to retry', () => {
    const waiting = new BetterSqlite3(t.database.url.slice('sqlite:'.length), { timeout: 0 });
    other.exec('begin immediate');
    let thrown: unknown;
    try {
      waiting.exec('begin immediate');
    } catch (err) {
      thrown = err;
    } finally {
      other.exec('rollback');
      waiting.close();
    }
    expect((thrown as { code?: string }).code).toBe('SQLITE_BUSY');
    const { status, outcome, headers } = normalizeError(thrown);
    expect(status).toBe(503);
    expect(headers['Retry-After']).toMatch(/^\d+$/);
    expect(outcome.issue[0]).toMatchObject({ severity: 'error', code: 'transient' });
  });

  it('answers a write made while another process holds the write lock with a 503, and writes nothing', async () => {
    other.exec('begin immediate');
    let res: Awaited<ReturnType<typeof fhirFetch>>;
    try {
      res = await fhirFetch(t, 'Patient', { method: 'POST', body: { resourceType: 'Patient', name: [{ family: 'Busy' }] } });
    } finally {
      other.exec('rollback');
    }
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].code).toBe('transient');
    const found = await fhirFetch(t, 'Patient?name=busy');
    expect(found.status).toBe(200);
    expect(found.body.entry ?? []).toEqual([]);
  }, 30_000);
});
