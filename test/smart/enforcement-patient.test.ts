import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { countOf, expectForbidden, historyRefs, refs, seed, tokenFor } from './enforcement-fixtures.js';

/**
 * patient/ scopes reach the Patient compartment of the patient in context, and nothing
 * without one (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html):
 * in searches, totals, includes, reads, history and writes.
 */

const READ_ALL = 'patient/Patient.rs patient/Observation.rs patient/Condition.rs patient/Encounter.rs patient/Provenance.rs';

describe.each(engines())('patient compartment enforcement (%s)', (engine) => {
  let t: TestApp;
  let p1: string;
  let p1NoProvenance: string;
  let noPatient: string;
  let writer: string;

  beforeAll(async () => {
    t = await startTestApp(engine);
    await seed(t);
    p1 = await tokenFor(t, READ_ALL, 'p1');
    p1NoProvenance = await tokenFor(t, 'patient/Patient.rs patient/Observation.rs', 'p1');
    noPatient = await tokenFor(t, 'patient/Observation.rs');
    writer = await tokenFor(t, 'patient/Observation.cruds', 'p1');
  });
  afterAll(async () => t.stop());

  it("search returns only the patient's resources, and _total counts only them", async () => {
    const res = await fhirFetch(t, 'Observation?_total=accurate', { token: p1 });
    expect(res.status).toBe(200);
    expect(refs(res.body)).toEqual(['Observation/lab1', 'Observation/sdoh1', 'Observation/vital1']);
    expect(res.body.total).toBe(3);
    expect(refs((await fhirFetch(t, 'Condition', { token: p1 })).body)).toEqual(['Condition/ed1', 'Condition/pl1']);
    expect(refs((await fhirFetch(t, 'Patient', { token: p1 })).body)).toEqual(['Patient/p1']);
  });

  it('paging counts only what the token may see', async () => {
    const first = await fhirFetch(t, 'Observation?_count=2&_total=accurate', { token: p1 });
    expect(first.body.total).toBe(3);
    const next = first.body.link.find((l: { relation: string }) => l.relation === 'next');
    const second = await fetch(next.url, { headers: { authorization: `Bearer ${p1}` } }).then((r) => r.json());
    expect([...refs(first.body), ...refs(second)].sort()).toEqual(['Observation/lab1', 'Observation/sdoh1', 'Observation/vital1']);
    expect(second.link.some((l: { relation: string }) => l.relation === 'next')).toBe(false);
  });

  it("reads of the other patient's resources are 403, unknown ones still 404", async () => {
    expect((await fhirFetch(t, 'Observation/lab1', { token: p1 })).status).toBe(200);
    expect((await fhirFetch(t, 'Patient/p1', { token: p1 })).status).toBe(200);
    for (const path of ['Observation/lab2', 'Observation/lab2/_history/1', 'Observation/lab2/_history', 'Patient/p2', 'Encounter/enc2']) {
      const res = await fhirFetch(t, path, { token: p1 });
      expectForbidden(res);
      expect(res.body.issue[0].diagnostics).toMatch(/compartment of Patient\/p1/);
    }
    expect((await fhirFetch(t, 'Observation/nope', { token: p1 })).status).toBe(404);
  });

  it('a compartment search of another patient returns nothing', async () => {
    const other = await fhirFetch(t, 'Patient/p2/Observation?_total=accurate', { token: p1 });
    expect(other.status).toBe(200);
    expect(other.body.total).toBe(0);
    expect(refs(other.body)).toEqual([]);
    expect(refs((await fhirFetch(t, 'Patient/p1/Condition', { token: p1 })).body)).toEqual(['Condition/ed1', 'Condition/pl1']);
  });

  it("includes never add other patients' resources nor types the token may not read", async () => {
    const subject = await fhirFetch(t, 'Observation?_include=Observation:subject&_include=Observation:performer', { token: p1 });
    expect(refs(subject.body, 'include')).toEqual(['Patient/p1']);
    const members = await fhirFetch(t, 'Observation?_include=Observation:has-member&_include:iterate=Observation:subject', { token: p1 });
    expect(refs(members.body, 'include')).toEqual(['Patient/p1']);
    const all = await fhirFetch(t, 'Observation?_id=vital1&_include=*', { token: p1 });
    expect(refs(all.body, 'include')).toEqual(['Patient/p1']);
  });

  it("revincludes never add other patients' resources", async () => {
    const obs = await fhirFetch(t, 'Patient?_revinclude=Observation:subject&_revinclude=Observation:focus', { token: p1 });
    expect(refs(obs.body, 'include')).toEqual(['Observation/lab1', 'Observation/sdoh1', 'Observation/vital1']);
    const enc = await fhirFetch(t, 'Encounter?_revinclude=Condition:encounter', { token: p1 });
    expect(refs(enc.body)).toEqual(['Condition/ed1', 'Encounter/enc1']);
  });

  it("Provenance: the patient's own data's Provenance is visible through its targets, no other", async () => {
    const res = await fhirFetch(t, 'Patient?_revinclude=Provenance:target', { token: p1 });
    const provenance = res.body.entry.filter((e: { resource: { resourceType: string } }) => e.resource.resourceType === 'Provenance');
    expect(provenance).toHaveLength(1);
    expect(provenance[0].resource.target[0].reference).toMatch(/^Patient\/p1\//);

    const all = await fhirFetch(t, 'Provenance?_count=100', { token: p1 });
    const targets = all.body.entry.map((e: { resource: { target: { reference: string }[] } }) => e.resource.target[0].reference.split('/_history')[0]).sort();
    expect(targets).toEqual(['Condition/ed1', 'Condition/pl1', 'Encounter/enc1', 'Observation/lab1', 'Observation/sdoh1', 'Observation/vital1', 'Patient/p1']);

    const obsProv = await fhirFetch(t, 'Observation?_revinclude=Provenance:target', { token: p1 });
    expect(refs(obsProv.body, 'include')).toHaveLength(3);
    const without = await fhirFetch(t, 'Patient?_revinclude=Provenance:target', { token: p1NoProvenance });
    expect(refs(without.body)).toEqual(['Patient/p1']);
  });

  it("a Provenance of another patient's data is 403", async () => {
    const all = await fhirFetch(t, 'Provenance?target=Observation/lab2');
    const id = all.body.entry[0].resource.id;
    expectForbidden(await fhirFetch(t, `Provenance/${id}`, { token: p1 }));
  });

  it('deny by default: patient scopes without a patient in context see nothing', async () => {
    const res = await fhirFetch(t, 'Observation?_total=accurate', { token: noPatient });
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(0);
    expectForbidden(await fhirFetch(t, 'Observation/lab1', { token: noPatient }));
    expect((await fhirFetch(t, 'Observation/_history', { token: noPatient })).body.entry ?? []).toEqual([]);
  });

  it('type and system history show only the patient’s resources', async () => {
    const type = await fhirFetch(t, 'Observation/_history?_count=100', { token: p1 });
    expect(historyRefs(type.body)).toEqual(['Observation/lab1', 'Observation/sdoh1', 'Observation/vital1']);
    const system = await fhirFetch(t, '_history?_count=500', { token: p1 });
    const seen = historyRefs(system.body).filter((r) => !r.startsWith('Provenance/'));
    expect(seen).toEqual(['Condition/ed1', 'Condition/pl1', 'Encounter/enc1', 'Observation/lab1', 'Observation/sdoh1', 'Observation/vital1', 'Patient/p1']);
  });

  it('a create for another patient is refused and writes nothing; one for the own patient works', async () => {
    const body = (patient: string) => ({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${patient}` } });
    const observations = await countOf(t, 'Observation');
    const provenance = await countOf(t, 'Provenance');
    const denied = await fhirFetch(t, 'Observation', { method: 'POST', body: body('p2'), token: writer });
    expectForbidden(denied);
    expect(denied.body.issue[0].diagnostics).toMatch(/nothing was written/);
    expect(await countOf(t, 'Observation')).toBe(observations);
    expect(await countOf(t, 'Provenance')).toBe(provenance);
    const created = await fhirFetch(t, 'Observation', { method: 'POST', body: body('p1'), token: writer });
    expect(created.status).toBe(201);
    expect(await countOf(t, 'Observation')).toBe(observations + 1);
  });

  it("updates may neither touch the other patient's resources nor move one out of the compartment", async () => {
    const lab2 = (await fhirFetch(t, 'Observation/lab2')).body;
    expectForbidden(await fhirFetch(t, 'Observation/lab2', { method: 'PUT', body: { ...lab2, status: 'amended' }, token: writer }));
    expectForbidden(await fhirFetch(t, 'Observation/lab2', { method: 'DELETE', token: writer }));
    const lab1 = (await fhirFetch(t, 'Observation/lab1')).body;
    expectForbidden(await fhirFetch(t, 'Observation/lab1', { method: 'PUT', body: { ...lab1, subject: { reference: 'Patient/p2' } }, token: writer }));
    const patch = [{ op: 'replace', path: '/subject/reference', value: 'Patient/p2' }];
    expectForbidden(await fhirFetch(t, 'Observation/lab1', { method: 'PATCH', body: patch, headers: { 'content-type': 'application/json-patch+json' }, token: writer }));
    const after = (await fhirFetch(t, 'Observation/lab1')).body;
    expect(after.meta.versionId).toBe(lab1.meta.versionId);
    expect((await fhirFetch(t, 'Observation/lab2')).body.meta.versionId).toBe(lab2.meta.versionId);
  });

  it('conditional interactions only match what the token may search', async () => {
    const res = await fhirFetch(t, 'Observation?_id=lab2', { method: 'DELETE', token: writer });
    expect(res.status).toBe(204);
    expect((await fhirFetch(t, 'Observation/lab2')).status).toBe(200);
    const body = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/p1' } };
    const existing = await fhirFetch(t, 'Observation', { method: 'POST', body, headers: { 'if-none-exist': '_id=lab2' }, token: writer });
    expect(existing.status).toBe(201);
  });

  it('a transaction with one entry outside the compartment writes nothing', async () => {
    const observations = await countOf(t, 'Observation');
    const entry = (patient: string) => ({
      request: { method: 'POST', url: 'Observation' },
      resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${patient}` } },
    });
    const res = await fhirFetch(t, '', { method: 'POST', body: { resourceType: 'Bundle', type: 'transaction', entry: [entry('p1'), entry('p2')] }, token: writer });
    expect(res.status).toBe(403);
    expect(await countOf(t, 'Observation')).toBe(observations);
  });
});
