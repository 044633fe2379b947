import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FhirError } from '../../server/errors.js';
import { inTransaction } from '../../server/db/transaction.js';
import { findMatchingIds } from '../../server/search/query/index.js';
import { WriteSession } from '../../server/service/types.js';
import { engines } from '../helpers/db.js';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { putAll } from './query-fixtures.js';

/**
 * `findMatchingIds`, the entry point of conditional create/update/delete and
 * conditional references (https://hl7.org/fhir/R4/http.html#ccreate), called directly.
 */

describe.each(engines())('findMatchingIds on %s', (engine) => {
  let t: TestApp;
  const knex = () => t.app.db.knex;
  beforeAll(async () => {
    t = await startTestApp(engine);
    await putAll(t, [
      { resourceType: 'Patient', id: 'f-1', active: true, identifier: [{ system: 'http://x', value: '1' }], name: [{ family: 'Alpha' }] },
      { resourceType: 'Patient', id: 'f-2', active: false, identifier: [{ system: 'http://x', value: '1' }], name: [{ family: 'Beta' }] },
      { resourceType: 'Patient', id: 'f-3', active: true, identifier: [{ system: 'http://x', value: '3' }], name: [{ family: 'Alpha' }] },
      { resourceType: 'Observation', id: 'f-o', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/f-1' } },
    ]);
  });
  afterAll(() => t.stop());

  it('returns the ids that match every parameter, ordered and limited', async () => {
    expect(await findMatchingIds(knex(), 'Patient', 'identifier=http://x|1&active=true', 10)).toEqual(['f-1']);
    expect(await findMatchingIds(knex(), 'Patient', 'identifier=http://x|1', 10)).toEqual(['f-1', 'f-2']);
    expect(await findMatchingIds(knex(), 'Patient', '?identifier=http%3A%2F%2Fx%7C1', 1)).toEqual(['f-1']);
    expect(await findMatchingIds(knex(), 'Patient', 'family=alpha&_count=1&_format=json', 10)).toEqual(['f-1', 'f-3']);
    expect(await findMatchingIds(knex(), 'Patient', 'identifier=http://x|9', 10)).toEqual([]);
    expect(await findMatchingIds(knex(), 'Patient', 'identifier=http://x|1', 0)).toEqual([]);
    expect(await findMatchingIds(knex(), 'Observation', 'subject=Patient/f-1', 2)).toEqual(['f-o']);
  });

  it('matches absolute references on the base given', async () => {
    const url = encodeURIComponent(`${t.base}/Patient/f-1`);
    expect(await findMatchingIds(knex(), 'Observation', `subject=${url}`, 2, { baseUrl: t.base })).toEqual(['f-o']);
    expect(await findMatchingIds(knex(), 'Observation', `subject=${url}`, 2)).toEqual([]);
  });

  it('is strict: unknown parameters, modifiers and bad values are 400s naming them', async () => {
    for (const [query, name] of [['foo=1', 'foo'], ['name:fuzzy=x', 'name:fuzzy'], ['birthdate=nope', 'birthdate'], ['identifier=a|b|c', 'identifier']]) {
      const err = await findMatchingIds(knex(), 'Patient', query, 2).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FhirError);
      expect((err as FhirError).status).toBe(400);
      expect((err as FhirError).issues[0].expression).toEqual([name]);
    }
    await expect(findMatchingIds(knex(), 'NotAType', 'a=1', 2)).rejects.toBeInstanceOf(FhirError);
  });

  it('sees a transaction’s own uncommitted writes, and does not wait on SQLite’s one connection', async () => {
    const found = await inTransaction(t.app.db, async (trx) => {
      const s = new WriteSession(trx, new Date().toISOString());
      await t.app.resources.create(s, { resourceType: 'Patient', identifier: [{ system: 'http://x', value: 'tx' }] }, 'f-tx');
      return findMatchingIds(trx, 'Patient', 'identifier=http://x|tx', 2);
    });
    expect(found).toEqual(['f-tx']);
  });

  it('does not find deleted resources', async () => {
    await fhirFetch(t, 'Patient/f-3', { method: 'DELETE' });
    expect(await findMatchingIds(knex(), 'Patient', 'family=alpha', 10)).toEqual(['f-1']);
  });
});
