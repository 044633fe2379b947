import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { engines } from '../helpers/db.js';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { failing, ids, putAll, type Res } from './query-fixtures.js';

/**
 * Chaining, reverse chaining (`_has`) and compartment search.
 * See: https://hl7.org/fhir/R4/search.html#chaining, https://hl7.org/fhir/R4/search.html#has
 * and https://hl7.org/fhir/R4/compartmentdefinition.html
 */

const obs = (id: string, subject: string, code: string, status = 'final'): Res => ({
  resourceType: 'Observation', id, status, code: { coding: [{ system: 'http://loinc.org', code }] }, subject: { reference: subject },
});

const fixtures: Res[] = [
  { resourceType: 'Organization', id: 'ch-org', name: 'Acme Clinic' },
  { resourceType: 'Practitioner', id: 'ch-doc', name: [{ family: 'Smith' }] },
  { resourceType: 'Patient', id: 'ch-ada', name: [{ family: 'Lovelace', given: ['Ada'] }], birthDate: '1815-12-10', generalPractitioner: [{ reference: 'Practitioner/ch-doc' }], managingOrganization: { reference: 'Organization/ch-org' } },
  { resourceType: 'Patient', id: 'ch-bob', name: [{ family: 'Builder', given: ['Bob'] }], birthDate: '1990' },
  { resourceType: 'Patient', id: 'ch-gone', name: [{ family: 'Lovelace', given: ['Ghost'] }] },
  { resourceType: 'Location', id: 'ch-loc', name: 'Ada ward' },
  obs('ch-o1', 'Patient/ch-ada', '2339-0'),
  obs('ch-o2', 'Patient/ch-bob', '2339-0', 'preliminary'),
  obs('ch-o3', 'Location/ch-loc', '8867-4'),
  obs('ch-o4', 'Patient/ch-gone', '8867-4'),
  { resourceType: 'Encounter', id: 'ch-enc', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/ch-ada' } },
  { resourceType: 'Condition', id: 'ch-cond', subject: { reference: 'Patient/ch-bob' }, encounter: { reference: 'Encounter/ch-enc' } },
];

describe.each(engines())('chained, reverse-chained and compartment search on %s', (engine) => {
  let t: TestApp;
  const q = (query: string) => ids(t, query);
  beforeAll(async () => {
    t = await startTestApp(engine);
    await putAll(t, fixtures);
    await fhirFetch(t, 'Patient/ch-gone', { method: 'DELETE' });
  });
  afterAll(() => t.stop());

  it('follows a typed chain, with the modifiers of the last link', async () => {
    expect(await q('Observation?subject:Patient.name=ada')).toEqual(['ch-o1']);
    expect(await q('Observation?patient.name=lovelace')).toEqual(['ch-o1']);
    expect(await q('Observation?subject:Patient.birthdate=lt1900')).toEqual(['ch-o1']);
    expect(await q('Observation?subject:Patient.name:exact=Ada')).toEqual(['ch-o1']);
    expect(await q('Observation?subject:Patient.name:exact=ada')).toEqual([]);
    expect(await q('Observation?subject:Patient._id=ch-bob')).toEqual(['ch-o2']);
  });

  it('takes an untyped chain as the union over the target types', async () => {
    expect(await q('Observation?subject.name=ada')).toEqual(['ch-o1', 'ch-o3']);
    expect(await q('Observation?subject.name=ada,bob')).toEqual(['ch-o1', 'ch-o2', 'ch-o3']);
  });

  it('follows chains of several links, and never through a deleted resource', async () => {
    expect(await q('Observation?subject:Patient.general-practitioner.name=smith')).toEqual(['ch-o1']);
    expect(await q('Observation?subject:Patient.organization.name=acme')).toEqual(['ch-o1']);
    expect(await q('Condition?encounter.subject:Patient.name=ada')).toEqual(['ch-cond']);
    expect(await q('Observation?subject:Patient.name=ghost')).toEqual([]);
  });

  it('refuses chains no target type can answer', async () => {
    const cases = ['Observation?subject.foo=x', 'Observation?code.name=x', 'Observation?subject:Medication.code=x', 'Observation?subject:Patient.=x', 'Observation?subject:Patient.name.family=x'];
    for (const query of cases) {
      const res = await failing(t, query);
      expect([query, res.status]).toEqual([query, 400]);
      expect(res.expression.length).toBeGreaterThan(0);
    }
  });

  it('_has finds resources that others refer to, also nested', async () => {
    expect(await q('Patient?_has:Observation:patient:code=2339-0')).toEqual(['ch-ada', 'ch-bob']);
    expect(await q('Patient?_has:Observation:subject:status=preliminary')).toEqual(['ch-bob']);
    expect(await q('Patient?_has:Observation:subject:code=8867-4')).toEqual([]);
    expect(await q('Patient?_has:Encounter:subject:_has:Condition:encounter:_id=ch-cond')).toEqual(['ch-ada']);
    expect(await q('Practitioner?_has:Patient:general-practitioner:name=ada')).toEqual(['ch-doc']);
    for (const bad of ['_has:Observation:code:status=final', '_has:Foo:bar:baz=1', '_has:Observation:subject=1', '_has:Observation:subject:foo=1', '_has:Observation:encounter:status=final']) {
      expect([bad, (await failing(t, `Patient?${bad}`)).status]).toEqual([bad, 400]);
    }
  });

  it('searches a Patient compartment', async () => {
    expect(await q('Patient/ch-ada/Observation')).toEqual(['ch-o1']);
    expect(await q('Patient/ch-bob/Observation?status=final')).toEqual([]);
    expect(await q('Patient/ch-bob/Condition')).toEqual(['ch-cond']);
    expect(await q('Patient/ch-ada/Encounter')).toEqual(['ch-enc']);
    expect(await q('Patient/ch-ada/Patient')).toEqual(['ch-ada']);
    expect(await q('Patient/ch-ada/Organization')).toEqual([]);
    expect(await q('Patient/nobody/Observation')).toEqual([]);
    expect((await fhirFetch(t, 'Encounter/ch-enc/Observation')).status).toBe(400);
    expect((await fhirFetch(t, 'Patient/ch-ada/NotAType')).status).toBe(404);
  });
});
