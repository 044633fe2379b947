import { request } from 'node:http';
import { Client } from 'fhir-kit-client';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { engines } from '../helpers/db.js';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';

const patient = { resourceType: 'Patient', name: [{ family: 'Lovelace', given: ['Ada'] }], birthDate: '1815-12-10', gender: 'female' };

describe.each(engines())('REST interactions on %s', (engine) => {
  let t: TestApp;
  let client: Client;
  beforeAll(async () => {
    t = await startTestApp(engine);
    client = new Client({ baseUrl: t.base, bearerToken: t.token });
  });
  afterAll(() => t.stop());

  it('creates with a server id and answers with Location, ETag and Last-Modified', async () => {
    const res = await fhirFetch(t, 'Patient', { method: 'POST', body: { ...patient, id: 'ignored' } });
    expect(res.status).toBe(201);
    expect(res.body.id).not.toBe('ignored');
    expect(res.body.meta.versionId).toBe('1');
    expect(res.headers.get('etag')).toBe('W/"1"');
    expect(res.headers.get('location')).toBe(`${t.base}/Patient/${res.body.id}/_history/1`);
    expect(new Date(res.headers.get('last-modified') as string).getTime()).toBeGreaterThan(0);
    expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json; fhirVersion=4\.0/);
  });

  it('reads, vreads, updates and keeps every version (fhir-kit-client)', async () => {
    const created = (await client.create({ resourceType: 'Patient', body: patient })) as unknown as { id: string };
    const read = (await client.read({ resourceType: 'Patient', id: created.id })) as unknown as typeof patient & { id: string };
    expect(read.name[0].family).toBe('Lovelace');
    const updated = (await client.update({
      resourceType: 'Patient',
      id: created.id,
      body: { ...read, gender: 'other' },
    })) as unknown as { meta: { versionId: string }; gender: string };
    expect(updated.meta.versionId).toBe('2');
    const v1 = (await client.vread({ resourceType: 'Patient', id: created.id, version: '1' })) as unknown as { gender: string };
    expect(v1.gender).toBe('female');
    const hist = (await client.history({ resourceType: 'Patient', id: created.id })) as unknown as { type: string; entry: { resource: { meta: { versionId: string } } }[] };
    expect(hist.type).toBe('history');
    expect(hist.entry.map((e) => e.resource.meta.versionId)).toEqual(['2', '1']);
  });

  it('update-as-create with a client id answers 201, then 200', async () => {
    const first = await fhirFetch(t, 'Patient/client-chosen-1', { method: 'PUT', body: { ...patient, id: 'client-chosen-1' } });
    expect(first.status).toBe(201);
    const second = await fhirFetch(t, 'Patient/client-chosen-1', { method: 'PUT', body: { ...patient, id: 'client-chosen-1' } });
    expect(second.status).toBe(200);
    expect(second.body.meta.versionId).toBe('2');
  });

  it('honours If-Match: the current version passes, an old one is 412', async () => {
    const c = await fhirFetch(t, 'Patient', { method: 'POST', body: patient });
    const id = c.body.id;
    const ok = await fhirFetch(t, `Patient/${id}`, { method: 'PUT', body: { ...patient, id }, headers: { 'if-match': 'W/"1"' } });
    expect(ok.status).toBe(200);
    const stale = await fhirFetch(t, `Patient/${id}`, { method: 'PUT', body: { ...patient, id }, headers: { 'if-match': 'W/"1"' } });
    expect(stale.status).toBe(412);
    expect(stale.body.resourceType).toBe('OperationOutcome');
  });

  it('honours If-Match on delete: an old version is 412 and deletes nothing, the current one deletes', async () => {
    const c = await fhirFetch(t, 'Patient', { method: 'POST', body: patient });
    const id = c.body.id;
    await fhirFetch(t, `Patient/${id}`, { method: 'PUT', body: { ...patient, id, gender: 'other' } });
    const stale = await fhirFetch(t, `Patient/${id}`, { method: 'DELETE', headers: { 'if-match': 'W/"1"' } });
    expect(stale.status).toBe(412);
    expect(stale.body.issue[0].diagnostics).toContain('version 2');
    expect((await fhirFetch(t, `Patient/${id}`)).status).toBe(200);
    expect((await fhirFetch(t, `Patient/${id}`, { method: 'DELETE', headers: { 'if-match': 'garbage' } })).status).toBe(400);
    expect((await fhirFetch(t, `Patient/${id}`, { method: 'DELETE', headers: { 'if-match': 'W/"2"' } })).status).toBe(200);
    expect((await fhirFetch(t, `Patient/${id}`)).status).toBe(410);
    // Nothing current is left to match.
    expect((await fhirFetch(t, `Patient/${id}`, { method: 'DELETE', headers: { 'if-match': 'W/"3"' } })).status).toBe(412);
    expect((await fhirFetch(t, 'Patient/never-there', { method: 'DELETE', headers: { 'if-match': 'W/"1"' } })).status).toBe(412);
  });

  it('honours If-None-Match on update: * creates only, a version ETag refuses that version', async () => {
    const id = `inm-${Date.now()}`;
    const first = await fhirFetch(t, `Patient/${id}`, { method: 'PUT', body: { ...patient, id }, headers: { 'if-none-match': '*' } });
    expect(first.status).toBe(201);
    const again = await fhirFetch(t, `Patient/${id}`, { method: 'PUT', body: { ...patient, id, gender: 'other' }, headers: { 'if-none-match': '*' } });
    expect(again.status).toBe(412);
    expect((await fhirFetch(t, `Patient/${id}`)).body.meta.versionId).toBe('1');
    expect((await fhirFetch(t, `Patient/${id}`, { method: 'PUT', body: { ...patient, id }, headers: { 'if-none-match': 'W/"1"' } })).status).toBe(412);
    expect((await fhirFetch(t, `Patient/${id}`, { method: 'PUT', body: { ...patient, id }, headers: { 'if-none-match': 'W/"7"' } })).status).toBe(200);
  });

  it('answers 304 to If-None-Match and If-Modified-Since', async () => {
    const c = await fhirFetch(t, 'Patient', { method: 'POST', body: patient });
    const same = await fhirFetch(t, `Patient/${c.body.id}`, { headers: { 'if-none-match': 'W/"1"' } });
    expect(same.status).toBe(304);
    const other = await fhirFetch(t, `Patient/${c.body.id}`, { headers: { 'if-none-match': 'W/"7"' } });
    expect(other.status).toBe(200);
    const later = new Date(Date.now() + 60_000).toUTCString();
    expect((await fhirFetch(t, `Patient/${c.body.id}`, { headers: { 'if-modified-since': later } })).status).toBe(304);
    const earlier = new Date(Date.now() - 3_600_000).toUTCString();
    expect((await fhirFetch(t, `Patient/${c.body.id}`, { headers: { 'if-modified-since': earlier } })).status).toBe(200);
  });

  it('deletes as a new version; read is then 410 and history shows the deletion', async () => {
    const c = await fhirFetch(t, 'Patient', { method: 'POST', body: patient });
    const del = await fhirFetch(t, `Patient/${c.body.id}`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect(del.headers.get('etag')).toBe('W/"2"');
    expect((await fhirFetch(t, `Patient/${c.body.id}`)).status).toBe(410);
    expect((await fhirFetch(t, `Patient/${c.body.id}/_history/1`)).status).toBe(200);
    expect((await fhirFetch(t, `Patient/${c.body.id}/_history/2`)).status).toBe(410);
    const hist = await fhirFetch(t, `Patient/${c.body.id}/_history`);
    expect(hist.body.entry[0].request.method).toBe('DELETE');
    expect(hist.body.entry[0].resource).toBeUndefined();
    expect((await fhirFetch(t, `Patient/${c.body.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await fhirFetch(t, 'Patient/never-was', { method: 'DELETE' })).status).toBe(204);
  });

  it('patches with JSON Patch and validates the result', async () => {
    const c = await fhirFetch(t, 'Patient', { method: 'POST', body: patient });
    const ops = [{ op: 'replace', path: '/gender', value: 'male' }];
    const p = await fhirFetch(t, `Patient/${c.body.id}`, {
      method: 'PATCH',
      body: ops,
      headers: { 'content-type': 'application/json-patch+json' },
    });
    expect(p.status).toBe(200);
    expect(p.body.gender).toBe('male');
    expect(p.body.meta.versionId).toBe('2');
    const bad = await fhirFetch(t, `Patient/${c.body.id}`, {
      method: 'PATCH',
      body: [{ op: 'replace', path: '/birthDate', value: 'not-a-date' }],
      headers: { 'content-type': 'application/json-patch+json' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.issue[0].expression).toEqual(['Patient.birthDate']);
    expect((await fhirFetch(t, `Patient/${c.body.id}`)).body.meta.versionId).toBe('2');
  });

  it('honours Prefer: return=minimal and return=OperationOutcome', async () => {
    const min = await fhirFetch(t, 'Patient', { method: 'POST', body: patient, headers: { prefer: 'return=minimal' } });
    expect(min.status).toBe(201);
    expect(min.text).toBe('');
    expect(min.headers.get('location')).toContain('/Patient/');
    const oo = await fhirFetch(t, 'Patient', { method: 'POST', body: patient, headers: { prefer: 'return=OperationOutcome' } });
    expect(oo.body.resourceType).toBe('OperationOutcome');
  });

  it('serves _summary, _elements and _pretty on read', async () => {
    const c = await fhirFetch(t, 'Patient', { method: 'POST', body: { ...patient, text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Ada</div>' } } });
    const id = c.body.id;
    const summary = await fhirFetch(t, `Patient/${id}?_summary=true`);
    expect(summary.body.name).toBeDefined();
    expect(summary.body.text).toBeUndefined();
    expect(summary.body.meta.tag).toContainEqual(expect.objectContaining({ code: 'SUBSETTED' }));
    const data = await fhirFetch(t, `Patient/${id}?_summary=data`);
    expect(data.body.text).toBeUndefined();
    expect(data.body.birthDate).toBe('1815-12-10');
    const text = await fhirFetch(t, `Patient/${id}?_summary=text`);
    expect(text.body.text.status).toBe('generated');
    expect(text.body.name).toBeUndefined();
    const elements = await fhirFetch(t, `Patient/${id}?_elements=birthDate`);
    expect(Object.keys(elements.body).sort()).toEqual(['birthDate', 'id', 'meta', 'resourceType']);
    const pretty = await fhirFetch(t, `Patient/${id}?_pretty=true`);
    expect(pretty.text).toContain('\n  "resourceType"');
  });

  it('negotiates formats: JSON flavours and fhirVersion=4.0 pass, XML and other versions are 406', async () => {
    const c = await fhirFetch(t, 'Patient', { method: 'POST', body: patient });
    const path = `Patient/${c.body.id}`;
    expect((await fhirFetch(t, path, { headers: { accept: 'application/json' } })).status).toBe(200);
    expect((await fhirFetch(t, path, { headers: { accept: 'application/fhir+json; fhirVersion=4.0' } })).status).toBe(200);
    expect((await fhirFetch(t, `${path}?_format=json`)).status).toBe(200);
    expect((await fhirFetch(t, path, { headers: { accept: 'application/fhir+json; fhirVersion=3.0' } })).status).toBe(406);
    expect((await fhirFetch(t, path, { headers: { accept: 'application/fhir+xml' } })).status).toBe(406);
    expect((await fhirFetch(t, `${path}?_format=xml`)).status).toBe(406);
    const format = (value: string) => fhirFetch(t, `${path}?_format=${encodeURIComponent(value)}`);
    expect((await format('application/fhir+json;fhirVersion=4.0')).status).toBe(200);
    expect((await format('application/fhir+json;fhirVersion=3.0')).status).toBe(406);
    expect((await format('application/fhir+json; fhirVersion=3.0')).body.issue[0].diagnostics).toContain('fhirVersion=3.0');
  });

  /** A request with any method (fetch refuses TRACE and friends). */
  const raw = (method: string, path: string, token = t.token) =>
    new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
      const req = request(`${t.base}/${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end();
    });

  it('answers HEAD as GET without a body, behind the same token check', async () => {
    const c = await fhirFetch(t, 'Patient', { method: 'POST', body: patient });
    const head = await raw('HEAD', `Patient/${c.body.id}`);
    expect([head.status, head.headers.etag, head.body]).toEqual([200, 'W/"1"', '']);
    expect(head.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect((await raw('HEAD', 'metadata', '')).status).toBe(200);
    expect((await raw('HEAD', `Patient?_id=${c.body.id}`)).status).toBe(200);
    expect((await raw('HEAD', `Patient/${c.body.id}`, '')).status).toBe(401);
    expect((await raw('HEAD', 'Patient/nobody')).status).toBe(404);
  });

  it('answers other methods with 405 and the methods the path allows, each once', async () => {
    const options = await raw('OPTIONS', 'metadata');
    expect(options.status).toBe(405);
    expect(options.headers.allow).toBe('GET, HEAD');
    for (const method of ['TRACE', 'PROPFIND', 'LINK']) {
      const res = await raw(method, 'Patient');
      expect(res.status).toBe(405);
      expect(JSON.parse(res.body).resourceType).toBe('OperationOutcome');
      expect((res.headers.allow as string).split(', ').sort()).toEqual(['DELETE', 'GET', 'HEAD', 'POST', 'PUT']);
    }
  });

  it('serves a CapabilityStatement from capability.json and the route table', async () => {
    const cs = (await client.capabilityStatement()) as unknown as { fhirVersion: string; rest: { resource: { type: string; interaction: { code: string }[] }[] }[] };
    expect(cs.fhirVersion).toBe('4.0.1');
    const patientRes = cs.rest[0].resource.find((r) => r.type === 'Patient');
    expect(patientRes?.interaction.map((i) => i.code)).toEqual(expect.arrayContaining(['read', 'vread', 'update', 'patch', 'delete', 'create', 'history-instance', 'history-type']));
    expect(cs.rest[0].resource.length).toBeGreaterThan(140);
  });

  it('pages type and system history with _count, _since and _at', async () => {
    const before = new Date().toISOString();
    for (let i = 0; i < 5; i++) await fhirFetch(t, 'Basic', { method: 'POST', body: { resourceType: 'Basic', code: { text: `b${i}` } } });
    const first = await fhirFetch(t, `Basic/_history?_count=2&_since=${encodeURIComponent(before)}`);
    expect(first.body.entry).toHaveLength(2);
    const next = first.body.link.find((l: { relation: string }) => l.relation === 'next');
    const all: string[] = first.body.entry.map((e: { resource: { code: { text: string } } }) => e.resource.code.text);
    let url: string | undefined = next?.url;
    while (url) {
      const page = await fetch(url, { headers: { authorization: `Bearer ${t.token}` } }).then((r) => r.json() as Promise<{ entry: { resource: { code: { text: string } } }[]; link: { relation: string; url: string }[] }>);
      all.push(...page.entry.map((e) => e.resource.code.text));
      url = page.link.find((l) => l.relation === 'next')?.url;
    }
    expect(all).toEqual(['b4', 'b3', 'b2', 'b1', 'b0']);
    const system = await fhirFetch(t, `_history?_count=3`);
    expect(system.body.entry).toHaveLength(3);
    const at = await fhirFetch(t, `Basic/_history?_at=${encodeURIComponent(before.slice(0, 4))}`);
    expect(at.status).toBe(200);
  });

  it('_at returns the versions current at that instant', async () => {
    const v1 = await fhirFetch(t, 'Basic', { method: 'POST', body: { resourceType: 'Basic', code: { text: 'v1' } } });
    const id = v1.body.id;
    let v2 = await fhirFetch(t, `Basic/${id}`, { method: 'PUT', body: { resourceType: 'Basic', id, code: { text: 'v2' } } });
    // Two versions in the same millisecond cannot be told apart by _at: write until they differ.
    while (v2.body.meta.lastUpdated === v1.body.meta.lastUpdated) {
      v2 = await fhirFetch(t, `Basic/${id}`, { method: 'PUT', body: { resourceType: 'Basic', id, code: { text: 'v2' } } });
    }
    const versionsAt = async (instant: string) => {
      const res = await fhirFetch(t, `Basic/${id}/_history?_at=${encodeURIComponent(instant)}`);
      expect(res.status).toBe(200);
      return (res.body.entry ?? []).map((e: { resource: { meta: { versionId: string } } }) => e.resource.meta.versionId);
    };
    // Version 1, or (if the first update shared its millisecond) the last version of that millisecond.
    const atFirst = await versionsAt(v1.body.meta.lastUpdated);
    expect(atFirst).toHaveLength(1);
    expect(Number(atFirst[0])).toBeLessThan(Number(v2.body.meta.versionId));
    expect(await versionsAt(v2.body.meta.lastUpdated)).toEqual([v2.body.meta.versionId]);
    expect(await versionsAt('1999-01-01T00:00:00Z')).toEqual([]);
  });
});
