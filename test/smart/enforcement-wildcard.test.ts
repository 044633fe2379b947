import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { expectForbidden, refs, seed, tokenFor } from './enforcement-fixtures.js';

/**
 * `patient/*` scopes: every type, within the patient's compartment — also where the rows'
 * type is not known in advance (system search without `_type`, `_include=*`).
 */

describe.each(engines())('wildcard patient scope enforcement (%s)', (engine) => {
  let t: TestApp;
  let p1: string;

  beforeAll(async () => {
    t = await startTestApp(engine, { KILN_ALLOW_WILDCARD_SCOPES: 'true' });
    await seed(t);
    p1 = await tokenFor(t, 'patient/*.rs', 'p1');
  });
  afterAll(async () => t.stop());

  it('system search without _type finds only the compartment', async () => {
    const res = await fhirFetch(t, '?_count=100&_total=accurate', { token: p1 });
    expect(res.status).toBe(200);
    const found = refs(res.body);
    const clinical = found.filter((r) => !r.startsWith('Provenance/'));
    expect(clinical).toEqual([
      'Condition/ed1', 'Condition/pl1', 'Encounter/enc1', 'Observation/lab1', 'Observation/sdoh1', 'Observation/vital1', 'Patient/p1',
    ]);
    // One Provenance per seeded write of p1's data, found through its target.
    expect(found.length - clinical.length).toBe(7);
    expect(res.body.total).toBe(found.length);
  });

  it('system search with _type restricts each type', async () => {
    const res = await fhirFetch(t, '?_type=Observation,Condition,Practitioner', { token: p1 });
    expect(refs(res.body)).toEqual(['Condition/ed1', 'Condition/pl1', 'Observation/lab1', 'Observation/sdoh1', 'Observation/vital1']);
  });

  it('_include=* and _revinclude=* add only what the token may read', async () => {
    const inc = await fhirFetch(t, 'Observation?_include=*', { token: p1 });
    expect(refs(inc.body, 'include')).toEqual(['Encounter/enc1', 'Patient/p1']);
    const rev = await fhirFetch(t, 'Patient?_revinclude=*', { token: p1 });
    const included = refs(rev.body, 'include');
    expect(included.filter((r) => !r.startsWith('Provenance/'))).toEqual([
      'Condition/ed1', 'Condition/pl1', 'Encounter/enc1', 'Observation/lab1', 'Observation/sdoh1', 'Observation/vital1',
    ]);
  });

  it('types outside the compartment are not readable', async () => {
    expectForbidden(await fhirFetch(t, 'Practitioner/doc', { token: p1 }));
    expect(refs((await fhirFetch(t, 'Practitioner', { token: p1 })).body)).toEqual([]);
  });

  it('history of everything shows only the compartment', async () => {
    const res = await fhirFetch(t, '_history?_count=500', { token: p1 });
    const urls: string[] = res.body.entry.map((e: { fullUrl: string }) => e.fullUrl.replace(`${t.base}/`, ''));
    // Exact ids: the Provenance ids are UUIDs, whose hex digits may spell "ed2".
    const others = new Set(['Patient/p2', 'Encounter/enc2', 'Observation/lab2', 'Observation/vital2', 'Condition/pl2', 'Condition/ed2', 'Practitioner/doc']);
    expect(urls.filter((u) => others.has(u))).toEqual([]);
    expect(urls).toContain('Patient/p1');
  });
});
