import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { engines } from '../helpers/db.js';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';

const SYSTEM = 'https://kiln.example/mrn';
const patient = (mrn: string, extra: Record<string, unknown> = {}) => ({ resourceType: 'Patient', identifier: [{ system: SYSTEM, value: mrn }], ...extra });
const byMrn = (mrn: string) => `identifier=${encodeURIComponent(`${SYSTEM}|${mrn}`)}`;

describe.each(engines())('conditional update and delete on %s', (engine) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(engine);
  });
  afterAll(() => t.stop());

  it('conditional update creates when nothing matches, then updates the one match', async () => {
    const first = await fhirFetch(t, `Patient?${byMrn('cu-1')}`, { method: 'PUT', body: patient('cu-1', { gender: 'female' }) });
    expect(first.status).toBe(201);
    const second = await fhirFetch(t, `Patient?${byMrn('cu-1')}`, { method: 'PUT', body: patient('cu-1', { gender: 'other' }) });
    expect(second.status).toBe(200);
    expect(second.body.id).toBe(first.body.id);
    expect(second.body.meta.versionId).toBe('2');
    expect(second.headers.get('location')).toBe(`${t.base}/Patient/${first.body.id}/_history/2`);
  });

  it('conditional update refuses a differing body id (400), several matches (412) and empty criteria (400)', async () => {
    const made = await fhirFetch(t, 'Patient', { method: 'POST', body: patient('cu-2') });
    const wrongId = await fhirFetch(t, `Patient?${byMrn('cu-2')}`, { method: 'PUT', body: patient('cu-2', { id: 'someone-else' }) });
    expect(wrongId.status).toBe(400);
    expect(wrongId.body.issue[0].diagnostics).toContain(made.body.id);
    await fhirFetch(t, 'Patient', { method: 'POST', body: patient('cu-2') });
    const many = await fhirFetch(t, `Patient?${byMrn('cu-2')}`, { method: 'PUT', body: patient('cu-2') });
    expect(many.status).toBe(412);
    const none = await fhirFetch(t, 'Patient', { method: 'PUT', body: patient('cu-2') });
    expect(none.status).toBe(400);
    expect(none.body.resourceType).toBe('OperationOutcome');
  });

  it('conditional delete removes the one match, answers 204 for none and 412 for several', async () => {
    const made = await fhirFetch(t, 'Patient', { method: 'POST', body: patient('cd-1') });
    const del = await fhirFetch(t, `Patient?${byMrn('cd-1')}`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect((await fhirFetch(t, `Patient/${made.body.id}`)).status).toBe(410);
    expect((await fhirFetch(t, `Patient?${byMrn('cd-1')}`, { method: 'DELETE' })).status).toBe(204);
    await fhirFetch(t, 'Patient', { method: 'POST', body: patient('cd-2') });
    await fhirFetch(t, 'Patient', { method: 'POST', body: patient('cd-2') });
    expect((await fhirFetch(t, `Patient?${byMrn('cd-2')}`, { method: 'DELETE' })).status).toBe(412);
    expect((await fhirFetch(t, `Patient?${byMrn('cd-2')}`)).body.entry).toHaveLength(2);
    expect((await fhirFetch(t, 'Patient', { method: 'DELETE' })).status).toBe(400);
  });

  it('with KILN_CONDITIONAL_DELETE=multiple, deletes every match and says so in the CapabilityStatement', async () => {
    const multi = await startTestApp(engine, { KILN_CONDITIONAL_DELETE: 'multiple' });
    try {
      for (let i = 0; i < 3; i++) await fhirFetch(multi, 'Patient', { method: 'POST', body: patient('cd-3') });
      const del = await fhirFetch(multi, `Patient?${byMrn('cd-3')}`, { method: 'DELETE' });
      expect(del.status).toBe(200);
      expect((await fhirFetch(multi, `Patient?${byMrn('cd-3')}`)).body.entry ?? []).toHaveLength(0);
      const cs = await fhirFetch(multi, 'metadata');
      expect(cs.body.rest[0].resource.find((r: { type: string }) => r.type === 'Patient').conditionalDelete).toBe('multiple');
    } finally {
      await multi.stop();
    }
    const cs = await fhirFetch(t, 'metadata');
    const p = cs.body.rest[0].resource.find((r: { type: string }) => r.type === 'Patient');
    expect([p.conditionalCreate, p.conditionalUpdate, p.conditionalDelete]).toEqual([true, true, 'single']);
  });
});

describe.each(engines())('conditional references in transactions on %s', (engine) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(engine);
  });
  afterAll(() => t.stop());
  const txWithSubject = (reference: string) => ({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [{ resource: { resourceType: 'Observation', status: 'final', code: { text: 'hr' }, subject: { reference } }, request: { method: 'POST', url: 'Observation' } }],
  });

  it('resolves Type?criteria to the one match', async () => {
    const p = await fhirFetch(t, 'Patient', { method: 'POST', body: patient('cr-1') });
    const res = await fhirFetch(t, '', { method: 'POST', body: txWithSubject(`Patient?identifier=${SYSTEM}|cr-1`) });
    expect(res.status).toBe(200);
    expect(res.body.entry[0].resource.subject.reference).toBe(`Patient/${p.body.id}`);
  });

  it('fails the transaction with 412 when nothing or several match, writing nothing', async () => {
    const before = Number((await t.app.db.knex('resources').count({ n: '*' }))[0].n);
    const none = await fhirFetch(t, '', { method: 'POST', body: txWithSubject(`Patient?identifier=${SYSTEM}|nobody`) });
    expect(none.status).toBe(412);
    expect(none.body.issue[0].diagnostics).toContain('Bundle.entry[0]');
    await fhirFetch(t, 'Patient', { method: 'POST', body: patient('cr-2') });
    await fhirFetch(t, 'Patient', { method: 'POST', body: patient('cr-2') });
    const afterSetup = Number((await t.app.db.knex('resources').count({ n: '*' }))[0].n);
    const many = await fhirFetch(t, '', { method: 'POST', body: txWithSubject(`Patient?identifier=${SYSTEM}|cr-2`) });
    expect(many.status).toBe(412);
    expect(Number((await t.app.db.knex('resources').count({ n: '*' }))[0].n)).toBe(afterSetup);
    expect(afterSetup - before).toBe(4); // the two Patients and their two Provenances only
  });
});

/**
 * Criteria with nothing that selects (result parameters, empty values, bare names) would
 * match every resource of the type: each conditional interaction refuses them with a
 * 400, and changes nothing.
 */
describe.each(engines())('conditional criteria that select nothing on %s', (engine) => {
  let t: TestApp;
  let location: { id: string };
  const count = async (table: string) => Number((await t.app.db.knex(table).count({ n: '*' }))[0].n);
  beforeAll(async () => {
    t = await startTestApp(engine);
    location = (await fhirFetch(t, 'Location', { method: 'POST', body: { resourceType: 'Location', name: 'Only one' } })).body;
    await fhirFetch(t, 'Patient', { method: 'POST', body: patient('sn-1') });
    await fhirFetch(t, 'Patient', { method: 'POST', body: patient('sn-2') });
  });
  afterAll(() => t.stop());

  const refused = (res: { status: number; body: { resourceType: string; issue: { diagnostics: string }[] } }) => {
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].diagnostics).toContain('select nothing');
  };

  it.each(['_count=10', 'name=', '_elements=id', '_sort=name&_summary=true', 'name=&_count=1'])('DELETE Location?%s deletes nothing', async (query) => {
    refused(await fhirFetch(t, `Location?${query}`, { method: 'DELETE' }));
    expect((await fhirFetch(t, `Location/${location.id}`)).status).toBe(200);
  });

  it.each(['_summary=true', '_count=1', 'name='])('PUT Location?%s overwrites nothing', async (query) => {
    refused(await fhirFetch(t, `Location?${query}`, { method: 'PUT', body: { resourceType: 'Location', name: 'overwritten' } }));
    const now = await fhirFetch(t, `Location/${location.id}`);
    expect([now.body.meta.versionId, now.body.name]).toEqual(['1', 'Only one']);
  });

  it.each(['name=', '_count=1', 'x', '_id=', '&&&', 'Patient?_count=1'])('If-None-Exist: %s creates nothing and finds nothing', async (criteria) => {
    const before = await count('resources');
    refused(await fhirFetch(t, 'Patient', { method: 'POST', body: patient('sn-3'), headers: { 'if-none-exist': criteria } }));
    expect(await count('resources')).toBe(before);
  });

  it('a conditional reference in a transaction', async () => {
    const before = await count('resources');
    const tx = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ resource: { resourceType: 'Observation', status: 'final', code: { text: 'hr' }, subject: { reference: 'Patient?_count=1' } }, request: { method: 'POST', url: 'Observation' } }],
    };
    const res = await fhirFetch(t, '', { method: 'POST', body: tx });
    expect(res.status).toBe(400);
    expect(res.body.issue[0].diagnostics).toContain('select nothing');
    expect(await count('resources')).toBe(before);
  });
});

describe.each(engines())('conditional references outside a transaction on %s', (engine) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(engine);
    await fhirFetch(t, 'Patient', { method: 'POST', body: patient('out-1') });
  });
  afterAll(() => t.stop());
  const observation = { resourceType: 'Observation', status: 'final', code: { text: 'hr' }, subject: { reference: `Patient?identifier=${SYSTEM}|out-1` } };

  it('are refused in a batch entry, which the server does not resolve, rather than stored as text', async () => {
    const batch = { resourceType: 'Bundle', type: 'batch', entry: [{ resource: observation, request: { method: 'POST', url: 'Observation' } }] };
    const res = await fhirFetch(t, '', { method: 'POST', body: batch });
    expect(res.status).toBe(200);
    expect(res.body.entry[0].response.status).toMatch(/^400/);
    expect(JSON.stringify(res.body.entry[0].response.outcome)).toContain('only in a transaction');
    expect((await fhirFetch(t, 'Observation')).body.entry ?? []).toHaveLength(0);
  });

  it('are kept as they are inside a Bundle stored as a resource', async () => {
    const stored = await fhirFetch(t, 'Bundle', { method: 'POST', body: { resourceType: 'Bundle', type: 'collection', entry: [{ resource: observation }] } });
    expect(stored.status).toBe(201);
    expect(stored.body.entry[0].resource.subject.reference).toBe(observation.subject.reference);
  });
});
