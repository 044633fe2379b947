import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { backendToken } from '../helpers/auth.js';
import { engines } from '../helpers/db.js';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { failing, ids, putAll, type Res } from './query-fixtures.js';

/**
 * `_list` through HTTP (https://hl7.org/fhir/R4/search.html#list): the resources of the
 * searched type a List refers to in `entry.item`, ANDed with the other parameters.
 */

const list = (id: string, items: string[]): Res => ({
  resourceType: 'List', id, status: 'current', mode: 'working',
  entry: items.map((reference) => ({ item: { reference } })),
});

describe.each(engines())('_list on %s', (engine) => {
  let t: TestApp;
  const q = (query: string) => ids(t, query);
  beforeAll(async () => {
    t = await startTestApp(engine);
    await putAll(t, [
      { resourceType: 'Patient', id: 'p1', gender: 'female' },
      { resourceType: 'Patient', id: 'p2', gender: 'male' },
      { resourceType: 'Patient', id: 'p3', gender: 'female' },
      { resourceType: 'Patient', id: 'p4', gender: 'female' },
      { resourceType: 'Patient', id: 'p-gone' },
      { resourceType: 'Observation', id: 'o1', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/p1' } },
      list('l1', ['Patient/p1', 'Patient/p2', 'Observation/o1', 'Patient/p-gone']),
      list('l2', [`${t.base}/Patient/p3`, 'http://elsewhere.example/fhir/Patient/p4', 'Patient/never-stored']),
      list('l-gone', ['Patient/p4']),
    ]);
    for (const path of ['Patient/p-gone', 'List/l-gone']) expect((await fhirFetch(t, path, { method: 'DELETE' })).status).toBe(200);
  });
  afterAll(() => t.stop());

  it('is listed in the CapabilityStatement for every type', async () => {
    const cs = (await fhirFetch(t, 'metadata')).body as { rest: { resource: { type: string; searchParam?: { name: string; type: string }[] }[] }[] };
    for (const type of ['Patient', 'Observation', 'Organization']) {
      const resource = cs.rest[0].resource.find((r) => r.type === type);
      expect([type, resource?.searchParam?.find((p) => p.name === '_list')?.type]).toEqual([type, 'special']);
    }
  });

  it('returns the current resources of the searched type on the list', async () => {
    expect(await q('Patient?_list=l1')).toEqual(['p1', 'p2']);
    expect(await q('Observation?_list=l1')).toEqual(['o1']);
    expect(await q('Patient?_list=List/l1')).toEqual(['p1', 'p2']);
    // A reference to this server by absolute URL is local; one elsewhere is not.
    expect(await q('Patient?_list=l2')).toEqual(['p3']);
    expect(await q('?_list=l1')).toEqual(['o1', 'p1', 'p2']);
  });

  it('ORs lists given with commas and ANDs _list with the other parameters', async () => {
    expect(await q('Patient?_list=l1,l2')).toEqual(['p1', 'p2', 'p3']);
    expect(await q('Patient?_list=l1&gender=female')).toEqual(['p1']);
    expect(await q('Patient?_list=l1&_list=l2')).toEqual([]);
    expect(await q('Observation?_list=l1&subject=Patient/p2')).toEqual([]);
  });

  it('finds nothing through a deleted or unknown list', async () => {
    expect(await q('Patient?_list=l-gone')).toEqual([]);
    expect(await q('Patient?_list=no-such-list')).toEqual([]);
  });

  it('follows changes of the list', async () => {
    expect((await fhirFetch(t, 'List/l3', { method: 'PUT', body: list('l3', ['Patient/p1', 'Patient/p2']) })).status).toBe(201);
    expect(await q('Patient?_list=l3')).toEqual(['p1', 'p2']);
    expect((await fhirFetch(t, 'List/l3', { method: 'PUT', body: list('l3', ['Patient/p2']) })).status).toBe(200);
    expect(await q('Patient?_list=l3')).toEqual(['p2']);
  });

  it('does not read a list the caller may not read', async () => {
    const found = async (query: string, token: string) => {
      const res = await fhirFetch(t, query, { token });
      expect(res.status).toBe(200);
      return ((res.body.entry ?? []) as { resource: { id: string } }[]).map((e) => e.resource.id).sort();
    };
    const patientsOnly = await backendToken(t.app, 'system/Patient.rs');
    expect(await found('Patient?_id=p1,p2', patientsOnly)).toEqual(['p1', 'p2']);
    expect(await found('Patient?_list=l1', patientsOnly)).toEqual([]);
    expect(await found('Patient?_list=l1', await backendToken(t.app, 'system/Patient.rs system/List.rs'))).toEqual(['p1', 'p2']);
  });

  it('refuses functional lists, modifiers and malformed ids with a 400 naming _list', async () => {
    for (const query of ['Patient?_list=$current-allergies', 'Patient?_list:not=l1', 'Patient?_list=a/b', 'Patient?_list=Patient/p1']) {
      const res = await failing(t, query);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expect(res.expression.some((e) => e.startsWith('_list'))).toBe(true);
    }
    expect((await failing(t, 'Patient?_list=$current-allergies')).text).toContain('functional lists');
  });
});
