import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client } from 'fhir-kit-client';
import { engines } from '../helpers/db.js';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { provenancesTargeting } from '../helpers/provenance.js';

const PATIENT_URL = 'urn:uuid:8a5a3bd4-0a39-4c39-9d2a-0c4a2c6f0001';
const ENCOUNTER_URL = 'urn:uuid:8a5a3bd4-0a39-4c39-9d2a-0c4a2c6f0002';

function transaction() {
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: ENCOUNTER_URL,
        resource: { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject: { reference: PATIENT_URL } },
        request: { method: 'POST', url: 'Encounter' },
      },
      {
        fullUrl: PATIENT_URL,
        resource: { resourceType: 'Patient', name: [{ family: 'Hopper', given: ['Grace'] }] },
        request: { method: 'POST', url: 'Patient' },
      },
      {
        resource: {
          resourceType: 'Observation',
          status: 'final',
          code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
          subject: { reference: PATIENT_URL },
          encounter: { reference: ENCOUNTER_URL },
          valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
        },
        request: { method: 'POST', url: 'Observation' },
      },
    ],
  };
}

describe.each(engines())('batch and transaction on %s', (engine) => {
  let t: TestApp;
  let client: Client;
  const count = async (table: string) => Number((await t.app.db.knex(table).count({ n: '*' }))[0].n);
  /** The one Provenance whose target is `location` (Type/id/_history/v). */
  const provenanceOf = async (location: string) => {
    const [type, id] = location.split('/');
    const found = await provenancesTargeting(t.app.db.knex, type, id);
    expect(found).toHaveLength(1);
    return found[0];
  };
  beforeAll(async () => {
    t = await startTestApp(engine);
    client = new Client({ baseUrl: t.base, bearerToken: t.token });
  });
  afterAll(() => t.stop());

  it('commits a transaction and rewrites urn:uuid references to the new ids', async () => {
    const res = (await client.transaction({ body: transaction() })) as unknown as {
      type: string;
      entry: { response: { status: string; location: string; etag: string }; resource: { id: string; subject?: { reference: string }; encounter?: { reference: string } } }[];
    };
    expect(res.type).toBe('transaction-response');
    expect(res.entry.map((e) => e.response.status)).toEqual(['201 Created', '201 Created', '201 Created']);
    const [enc, pat, obs] = res.entry.map((e) => e.resource);
    expect(enc.subject?.reference).toBe(`Patient/${pat.id}`);
    expect(obs.subject?.reference).toBe(`Patient/${pat.id}`);
    expect(obs.encounter?.reference).toBe(`Encounter/${enc.id}`);
    expect(res.entry[1].response.location).toBe(`Patient/${pat.id}/_history/1`);
    expect(res.entry[1].response.etag).toBe('W/"1"');
    const stored = await fhirFetch(t, `Observation/${obs.id}`);
    expect(stored.body.subject.reference).toBe(`Patient/${pat.id}`);
  });

  it('records one Provenance for the whole transaction, targeting every version it wrote', async () => {
    const before = await count('resources');
    const res = await fhirFetch(t, '', { method: 'POST', body: transaction() });
    expect(res.status).toBe(200);
    expect((await count('resources')) - before).toBe(4);
    const written = res.body.entry.map((e: { response: { location: string } }) => e.response.location).sort();
    const prov = await provenanceOf(written[0]);
    const targets = prov.target.map((x: { reference: string }) => x.reference).sort();
    expect(targets).toEqual(written);
  });

  it('processes DELETE, POST, PUT and GET in the order the spec gives', async () => {
    await fhirFetch(t, 'Patient/order-1', { method: 'PUT', body: { resourceType: 'Patient', id: 'order-1' } });
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { request: { method: 'GET', url: 'Patient/order-2' } },
        { resource: { resourceType: 'Patient', id: 'order-2', gender: 'male' }, request: { method: 'PUT', url: 'Patient/order-2' } },
        { request: { method: 'DELETE', url: 'Patient/order-1' } },
      ],
    };
    const res = await fhirFetch(t, '', { method: 'POST', body: bundle });
    expect(res.status).toBe(200);
    // The GET ran after the PUT although it comes first in the Bundle.
    expect(res.body.entry[0].resource.gender).toBe('male');
    expect(res.body.entry[1].response.status).toBe('201 Created');
    expect(res.body.entry[2].response.status).toMatch(/^200|^204/);
    expect((await fhirFetch(t, 'Patient/order-1')).status).toBe(410);
  });

  it('a transaction failing half-way leaves nothing behind', async () => {
    const before = [await count('resources'), await count('resource_history'), await count('search_token')];
    const bundle = transaction();
    bundle.entry.push({
      fullUrl: 'urn:uuid:8a5a3bd4-0a39-4c39-9d2a-0c4a2c6f0009',
      resource: { resourceType: 'Patient', id: 'late-failure', name: [{ family: 'X' }] } as never,
      request: { method: 'PUT', url: 'Patient/late-failure', ifMatch: 'W/"3"' } as never,
    });
    const res = await fhirFetch(t, '', { method: 'POST', body: bundle });
    expect(res.status).toBe(412);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].diagnostics).toContain('Bundle.entry[3]');
    expect([await count('resources'), await count('resource_history'), await count('search_token')]).toEqual(before);
  });

  it('supports PATCH entries carried as Binary JSON Patch', async () => {
    await fhirFetch(t, 'Patient/patch-me', { method: 'PUT', body: { resourceType: 'Patient', id: 'patch-me', gender: 'female' } });
    const data = Buffer.from(JSON.stringify([{ op: 'replace', path: '/gender', value: 'other' }])).toString('base64');
    const res = await fhirFetch(t, '', {
      method: 'POST',
      body: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data }, request: { method: 'PATCH', url: 'Patient/patch-me' } }] },
    });
    expect(res.status).toBe(200);
    expect(res.body.entry[0].resource.gender).toBe('other');
  });

  it('runs batch entries independently and reports each outcome', async () => {
    const before = await count('resources');
    const res = await fhirFetch(t, '', {
      method: 'POST',
      body: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { resource: { resourceType: 'Patient', name: [{ family: 'Ok' }] }, request: { method: 'POST', url: 'Patient' } },
          { request: { method: 'GET', url: 'Patient/not-there' } },
          { resource: { resourceType: 'Patient', id: 'batch-2' }, request: { method: 'PUT', url: 'Patient/batch-2', ifMatch: 'W/"9"' } },
          { resource: { resourceType: 'Patient', id: 'batch-3' }, request: { method: 'PUT', url: 'Patient/batch-3' } },
        ],
      },
    });
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('batch-response');
    const statuses = res.body.entry.map((e: { response: { status: string } }) => e.response.status);
    expect(statuses).toEqual(['201 Created', '404 Not Found', '412 Precondition Failed', '201 Created']);
    expect(res.body.entry[1].response.outcome.resourceType).toBe('OperationOutcome');
    // Two resources written, plus one Provenance naming both.
    expect((await count('resources')) - before).toBe(3);
    const prov = await provenanceOf(res.body.entry[0].response.location);
    expect(prov.target.map((x: { reference: string }) => x.reference).sort()).toEqual(
      [res.body.entry[0].response.location, res.body.entry[3].response.location].sort(),
    );
  });
});

describe.each(engines())('conditional create on %s', (engine) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(engine);
  });
  afterAll(() => t.stop());
  const ident = (value: string) => ({ resourceType: 'Patient', identifier: [{ system: 'https://kiln.example/mrn', value }] });

  it('If-None-Exist creates once, then answers 200 with the match; several matches are 412', async () => {
    const headers = { 'if-none-exist': 'identifier=https://kiln.example/mrn|cc-1' };
    const first = await fhirFetch(t, 'Patient', { method: 'POST', body: ident('cc-1'), headers });
    expect(first.status).toBe(201);
    const again = await fhirFetch(t, 'Patient', { method: 'POST', body: ident('cc-1'), headers });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    await fhirFetch(t, 'Patient', { method: 'POST', body: ident('cc-2') });
    await fhirFetch(t, 'Patient', { method: 'POST', body: ident('cc-2') });
    const many = await fhirFetch(t, 'Patient', { method: 'POST', body: ident('cc-2'), headers: { 'if-none-exist': 'identifier=https://kiln.example/mrn|cc-2' } });
    expect(many.status).toBe(412);
  });

  it('20 simultaneous conditional creates with the same criteria leave exactly one resource', async () => {
    const headers = { 'if-none-exist': 'identifier=https://kiln.example/mrn|race-1' };
    const results = await Promise.all(Array.from({ length: 20 }, () => fhirFetch(t, 'Patient', { method: 'POST', body: ident('race-1'), headers })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 200)).toHaveLength(19);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
  });

  it('a transaction entry with ifNoneExist reuses the match and points references at it', async () => {
    const existing = await fhirFetch(t, 'Patient', { method: 'POST', body: ident('tx-1') });
    const res = await fhirFetch(t, '', {
      method: 'POST',
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: 'urn:uuid:5d0a3a1e-3f7a-4f55-9b64-3a7e8c2d0001', resource: ident('tx-1'), request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=https://kiln.example/mrn|tx-1' } },
          {
            resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'urn:uuid:5d0a3a1e-3f7a-4f55-9b64-3a7e8c2d0001' } },
            request: { method: 'POST', url: 'Observation' },
          },
        ],
      },
    });
    expect(res.status).toBe(200);
    expect(res.body.entry[0].response.status).toBe('200 OK');
    expect(res.body.entry[1].resource.subject.reference).toBe(`Patient/${existing.body.id}`);
  });

  it('a conditional PUT entry with a fullUrl: references point at the resource it writes, created or matched', async () => {
    const patientUrl = 'urn:uuid:5d0a3a1e-3f7a-4f55-9b64-3a7e8c2d0101';
    const bundle = (given: string) => ({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          resource: { resourceType: 'Observation', status: 'final', code: { text: 'cond-put' }, subject: { reference: patientUrl } },
          request: { method: 'POST', url: 'Observation' },
        },
        { fullUrl: patientUrl, resource: { ...ident('cput-1'), name: [{ given: [given] }] }, request: { method: 'PUT', url: 'Patient?identifier=https://kiln.example/mrn|cput-1' } },
      ],
    });
    // No match: the update creates, and the Observation points at what it created.
    const first = await fhirFetch(t, '', { method: 'POST', body: bundle('First') });
    expect(first.status).toBe(200);
    expect(first.body.entry[1].response.status).toBe('201 Created');
    const created = first.body.entry[1].response.location.split('/_history/')[0];
    expect(first.body.entry[0].resource.subject.reference).toBe(created);
    // One match: the same Patient is updated, and the new Observation points at it.
    const second = await fhirFetch(t, '', { method: 'POST', body: bundle('Second') });
    expect(second.status).toBe(200);
    expect(second.body.entry[1].response.status).toBe('200 OK');
    expect(second.body.entry[1].response.location.split('/_history/')[0]).toBe(created);
    expect(second.body.entry[0].resource.subject.reference).toBe(created);
    expect((await fhirFetch(t, created)).body.name[0].given).toEqual(['Second']);
    // Two matches: the transaction fails as a whole, naming the entry, and writes nothing.
    await fhirFetch(t, 'Patient', { method: 'POST', body: ident('cput-1') });
    const stored = async () => Number((await t.app.db.knex('resources').count({ n: '*' }))[0].n);
    const before = await stored();
    const third = await fhirFetch(t, '', { method: 'POST', body: bundle('Third') });
    expect(third.status).toBe(412);
    expect(JSON.stringify(third.body)).toMatch(/entry\[1\]|entry 1/);
    expect(await stored()).toBe(before);
  });
});
