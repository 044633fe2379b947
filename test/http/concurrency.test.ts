import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { engines } from '../helpers/db.js';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';

/**
 * Writes racing each other, where PostgreSQL can deadlock, and conditional writes whose
 * criteria are written differently: every request ends with a status a client can act
 * on, never a 500, and the data stays whole.
 */

const SYSTEM = 'https://kiln.example/race';
const patient = (id: string, gender = 'female') => ({ resourceType: 'Patient', id, gender });
const put = (id: string, gender: string) => ({ resource: patient(id, gender), request: { method: 'PUT', url: `Patient/${id}` } });
const bundle = (type: 'transaction' | 'batch', entry: unknown[]) => ({ resourceType: 'Bundle', type, entry });

describe.each(engines())('concurrent writes on %s', (engine) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(engine);
    for (const id of ['race-a', 'race-b']) expect((await fhirFetch(t, `Patient/${id}`, { method: 'PUT', body: patient(id) })).status).toBe(201);
  });
  afterAll(() => t.stop());

  it('transactions and batches writing two resources in opposite orders answer 200 or 409, never 500', async () => {
    const statuses: (number | string)[] = [];
    for (let round = 0; round < 4; round++) {
      const requests = Array.from({ length: 6 }, (_, i) => {
        const [x, y] = i % 2 === 0 ? ['race-a', 'race-b'] : ['race-b', 'race-a'];
        return fhirFetch(t, '', { method: 'POST', body: bundle(i % 3 === 0 ? 'batch' : 'transaction', [put(x, 'male'), put(y, 'other')]) });
      });
      for (const res of await Promise.all(requests)) {
        statuses.push(res.status);
        if (res.body?.type === 'batch-response') for (const e of res.body.entry) statuses.push(Number.parseInt(e.response.status, 10));
      }
    }
    expect(statuses.filter((s) => s !== 200 && s !== 201 && s !== 409)).toEqual([]);
    // Every version from 1 to the current one is in the history, once.
    for (const id of ['race-a', 'race-b']) {
      const current = Number((await fhirFetch(t, `Patient/${id}`)).body.meta.versionId);
      const history = await fhirFetch(t, `Patient/${id}/_history?_count=1000`);
      expect(history.body.entry.map((e: { resource: { meta: { versionId: string } } }) => Number(e.resource.meta.versionId)).sort((a: number, b: number) => a - b)).toEqual(
        Array.from({ length: current }, (_, i) => i + 1),
      );
    }
  });

  it('batch entries creating the same new id at once answer 200, 201 or 409, never 500', async () => {
    const results = await Promise.all(Array.from({ length: 12 }, () => fhirFetch(t, '', { method: 'POST', body: bundle('batch', [put('race-new', 'male')]) })));
    const statuses = results.map((r) => Number.parseInt(r.body.entry[0].response.status, 10));
    expect(statuses.filter((s) => s !== 200 && s !== 201 && s !== 409)).toEqual([]);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
  });

  it('conditional writes of the same criteria, written differently, leave one resource', async () => {
    const raw = `identifier=${SYSTEM}|v1`;
    const encoded = `identifier=${encodeURIComponent(`${SYSTEM}|v1`)}`;
    const body = { resourceType: 'Patient', identifier: [{ system: SYSTEM, value: 'v1' }] };
    const requests = Array.from({ length: 12 }, (_, i) =>
      i % 3 === 0
        ? fhirFetch(t, `Patient?${encoded}`, { method: 'PUT', body })
        : fhirFetch(t, 'Patient', { method: 'POST', body, headers: { 'if-none-exist': i % 3 === 1 ? raw : `${encoded}&gender:missing=true` } }),
    );
    const statuses = (await Promise.all(requests)).map((r) => r.status);
    expect(statuses.filter((s) => s !== 200 && s !== 201 && s !== 409)).toEqual([]);
    const found = await fhirFetch(t, `Patient?${encoded}`);
    expect(found.body.entry).toHaveLength(1);
  });
});

describe.each(engines())('values the database cannot compare or hold, on %s', (engine) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(engine);
  });
  afterAll(() => t.stop());

  it.each([
    ['GET', 'Patient/a%00b', 404],
    ['GET', 'Patient/a%00b/_history', 404],
    ['DELETE', 'Patient/a%00b', 404],
    ['PATCH', 'Patient/a%00b', 404],
    ['GET', 'Patient/x/_history/2147483648', 404],
    ['GET', 'Patient/x/_history/99999999999', 404],
  ])('%s %s → %i', async (method, path, status) => {
    const res = await fhirFetch(t, path, { method, ...(method === 'PATCH' ? { body: '[]', headers: { 'content-type': 'application/json-patch+json' } } : {}) });
    expect(res.status).toBe(status);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });

  it('a reference whose type is longer than any type name is stored, and not indexed as a type', async () => {
    const type = `X${'x'.repeat(69)}`;
    const res = await fhirFetch(t, 'Observation', { method: 'POST', body: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `${type}/abc` } } });
    expect(res.status).toBe(201);
    expect((await fhirFetch(t, `Observation/${res.body.id}`)).body.subject.reference).toBe(`${type}/abc`);
  });

  it('conditional writes refuse values longer than the index compares, rather than act on a near match', async () => {
    const base = 'c'.repeat(260);
    const made = await fhirFetch(t, 'Patient', { method: 'POST', body: { resourceType: 'Patient', identifier: [{ system: 'http://t', value: `${base}A` }] } });
    expect(made.status).toBe(201);
    const criteria = `identifier=${encodeURIComponent(`http://t|${base}B`)}`;
    const update = await fhirFetch(t, `Patient?${criteria}`, { method: 'PUT', body: { resourceType: 'Patient', identifier: [{ system: 'http://t', value: `${base}B` }] } });
    expect(update.status).toBe(400);
    expect(update.body.issue[0].diagnostics).toContain('longer than the 256');
    expect((await fhirFetch(t, `Patient?${criteria}`, { method: 'DELETE' })).status).toBe(400);
    const kept = await fhirFetch(t, `Patient/${made.body.id}`);
    expect([kept.status, kept.body.meta.versionId]).toEqual([200, '1']);
  });
});
