import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { refs, seed, tokenFor } from './enforcement-fixtures.js';

/**
 * Chains and `_has` walk only to resources the token may see: otherwise a patient-scoped
 * app could select its own resources by properties of another patient's.
 * (p1's vital1 has p2's lab2 as a member; p2's lab2 has p1 as its focus.)
 */
describe.each(engines())('chained search under a restricted token (%s)', (engine) => {
  let t: TestApp;
  let p1: string;

  beforeAll(async () => {
    t = await startTestApp(engine);
    await seed(t);
    p1 = await tokenFor(t, 'patient/Patient.rs patient/Observation.rs', 'p1');
  });
  afterAll(async () => t.stop());

  it('a chain does not arrive at rows the token may not read', async () => {
    const path = 'Observation?has-member:Observation.category=laboratory';
    expect(refs((await fhirFetch(t, path)).body)).toEqual(['Observation/vital1']);
    const restricted = await fhirFetch(t, path, { token: p1 });
    expect(restricted.status).toBe(200);
    expect(refs(restricted.body)).toEqual([]);
  });

  it('_has does not count rows the token may not read', async () => {
    const path = 'Patient?_has:Observation:focus:category=laboratory';
    expect(refs((await fhirFetch(t, path)).body)).toEqual(['Patient/p1']);
    expect(refs((await fhirFetch(t, path, { token: p1 })).body)).toEqual([]);
    // Through the token's own rows it still works.
    expect(refs((await fhirFetch(t, 'Patient?_has:Observation:subject:category=vital-signs', { token: p1 })).body)).toEqual(['Patient/p1']);
  });

  it('a chain to a type the token may not read at all matches nothing', async () => {
    const path = 'Observation?performer:Practitioner.name=Doctor';
    expect(refs((await fhirFetch(t, path)).body)).toEqual(['Observation/lab1']);
    expect(refs((await fhirFetch(t, path, { token: p1 })).body)).toEqual([]);
  });
});
