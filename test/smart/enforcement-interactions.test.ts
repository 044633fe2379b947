import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { expectInsufficientScope, historyRefs, LAB, refs, seed, systemToken } from './enforcement-fixtures.js';

/**
 * Scope enforcement, interaction by interaction: each needs its permission letters
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html); a token without
 * them gets a 403 `insufficient_scope`, one with them succeeds.
 */

const obs = (id?: string, extra: Record<string, unknown> = {}) => ({
  resourceType: 'Observation',
  ...(id ? { id } : {}),
  status: 'final',
  code: { text: 'x' },
  subject: { reference: 'Patient/p1' },
  ...extra,
});

describe.each(engines())('scope enforcement per interaction (%s)', (engine) => {
  let t: TestApp;
  const tokens: Record<string, string> = {};
  const as = (scope: string) => tokens[scope];

  beforeAll(async () => {
    t = await startTestApp(engine);
    await seed(t);
    const scopes = [
      'system/Observation.r', 'system/Observation.s', 'system/Observation.c', 'system/Observation.cs', 'system/Observation.u',
      'system/Observation.cu', 'system/Observation.us', 'system/Observation.cus', 'system/Observation.d', 'system/Observation.ds',
      'system/Observation.read', 'system/Observation.rs', 'system/Observation.crs',
    ];
    for (const s of scopes) tokens[s] = await systemToken(t, s);
  });
  afterAll(async () => t.stop());

  it('read, vread and instance history need r', async () => {
    for (const path of ['Observation/lab1', 'Observation/lab1/_history/1', 'Observation/lab1/_history']) {
      expect((await fhirFetch(t, path, { token: as('system/Observation.r') })).status).toBe(200);
      expectInsufficientScope(await fhirFetch(t, path, { token: as('system/Observation.s') }));
    }
    const res = await fhirFetch(t, 'Patient/p1', { token: as('system/Observation.r') });
    expectInsufficientScope(res);
    expect(res.headers.get('www-authenticate')).toContain('scope="system/Patient.r"');
    expect(res.body.issue[0].diagnostics).toMatch(/read on Patient/);
  });

  it('a missing resource is still a 404 for a token that may read its type, and refused first for one that may not', async () => {
    expect((await fhirFetch(t, 'Observation/nope', { token: as('system/Observation.r') })).status).toBe(404);
    expectInsufficientScope(await fhirFetch(t, 'Observation/nope', { token: as('system/Observation.s') }));
  });

  it('type search, compartment search and type history need s', async () => {
    for (const path of ['Observation?category=' + encodeURIComponent(LAB), 'Patient/p1/Observation', 'Observation/_history']) {
      expect((await fhirFetch(t, path, { token: as('system/Observation.s') })).status).toBe(200);
      expectInsufficientScope(await fhirFetch(t, path, { token: as('system/Observation.r') }));
    }
    const post = await fetch(`${t.base}/Observation/_search`, {
      method: 'POST',
      headers: { authorization: `Bearer ${as('system/Observation.r')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'status=final',
    });
    expect(post.status).toBe(403);
  });

  it('system search searches only the types the token may search, and _type needs s on every type', async () => {
    const all = await fhirFetch(t, '?_count=100', { token: as('system/Observation.s') });
    expect(all.status).toBe(200);
    expect(refs(all.body).every((r) => r.startsWith('Observation/'))).toBe(true);
    expect(refs(all.body)).toContain('Observation/lab1');
    expectInsufficientScope(await fhirFetch(t, '?_type=Observation,Patient', { token: as('system/Observation.s') }));
    expect((await fhirFetch(t, '?_type=Observation', { token: as('system/Observation.s') })).status).toBe(200);
    expectInsufficientScope(await fhirFetch(t, '?_count=1', { token: as('system/Observation.r') }));
  });

  it('system history shows only the types the token may search', async () => {
    const res = await fhirFetch(t, '_history?_count=500', { token: as('system/Observation.s') });
    expect(res.status).toBe(200);
    const seen = historyRefs(res.body);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((r) => r.startsWith('Observation/'))).toBe(true);
    expectInsufficientScope(await fhirFetch(t, '_history', { token: as('system/Observation.r') }));
  });

  it('v1 scopes: .read is rs', async () => {
    expect((await fhirFetch(t, 'Observation/lab1', { token: as('system/Observation.read') })).status).toBe(200);
    expect((await fhirFetch(t, 'Observation', { token: as('system/Observation.read') })).status).toBe(200);
    expectInsufficientScope(await fhirFetch(t, 'Observation', { method: 'POST', body: obs(), token: as('system/Observation.read') }));
  });

  it('create needs c; conditional create needs c and s', async () => {
    expect((await fhirFetch(t, 'Observation', { method: 'POST', body: obs(), token: as('system/Observation.c') })).status).toBe(201);
    expectInsufficientScope(await fhirFetch(t, 'Observation', { method: 'POST', body: obs(), token: as('system/Observation.s') }));
    const headers = { 'if-none-exist': 'identifier=http://x|cc-1' };
    const body = obs(undefined, { identifier: [{ system: 'http://x', value: 'cc-1' }] });
    expectInsufficientScope(await fhirFetch(t, 'Observation', { method: 'POST', body, headers, token: as('system/Observation.c') }));
    expect((await fhirFetch(t, 'Observation', { method: 'POST', body, headers, token: as('system/Observation.cs') })).status).toBe(201);
    expect((await fhirFetch(t, 'Observation', { method: 'POST', body, headers, token: as('system/Observation.cs') })).status).toBe(200);
  });

  it('update and patch need u; update-as-create needs c too, and writes nothing without it', async () => {
    expect((await fhirFetch(t, 'Observation/upd', { method: 'PUT', body: obs('upd') })).status).toBe(201);
    expect((await fhirFetch(t, 'Observation/upd', { method: 'PUT', body: obs('upd'), token: as('system/Observation.u') })).status).toBe(200);
    expectInsufficientScope(await fhirFetch(t, 'Observation/upd', { method: 'PUT', body: obs('upd'), token: as('system/Observation.c') }));
    const patch = { method: 'PATCH', body: [{ op: 'replace', path: '/status', value: 'amended' }], headers: { 'content-type': 'application/json-patch+json' } };
    expect((await fhirFetch(t, 'Observation/upd', { ...patch, token: as('system/Observation.u') })).status).toBe(200);
    expectInsufficientScope(await fhirFetch(t, 'Observation/upd', { ...patch, token: as('system/Observation.cs') }));

    const denied = await fhirFetch(t, 'Observation/new-by-put', { method: 'PUT', body: obs('new-by-put'), token: as('system/Observation.u') });
    expectInsufficientScope(denied);
    expect(denied.body.issue[0].diagnostics).toMatch(/update-as-create/);
    expect((await fhirFetch(t, 'Observation/new-by-put')).status).toBe(404);
    expect((await fhirFetch(t, 'Observation/new-by-put', { method: 'PUT', body: obs('new-by-put'), token: as('system/Observation.cu') })).status).toBe(201);
  });

  it('conditional update needs u and s (and c when it creates)', async () => {
    const body = obs(undefined, { identifier: [{ system: 'http://x', value: 'cu-1' }] });
    const url = 'Observation?identifier=http://x|cu-1';
    expectInsufficientScope(await fhirFetch(t, url, { method: 'PUT', body, token: as('system/Observation.u') }));
    expectInsufficientScope(await fhirFetch(t, url, { method: 'PUT', body, token: as('system/Observation.us') }));
    expect((await fhirFetch(t, `${url}&_summary=count`)).body.total).toBe(0);
    expect((await fhirFetch(t, url, { method: 'PUT', body, token: as('system/Observation.cus') })).status).toBe(201);
    expect((await fhirFetch(t, url, { method: 'PUT', body, token: as('system/Observation.us') })).status).toBe(200);
  });

  it('delete needs d; conditional delete needs d and s', async () => {
    for (const id of ['del1', 'del2']) await fhirFetch(t, `Observation/${id}`, { method: 'PUT', body: obs(id, { identifier: [{ system: 'http://x', value: id }] }) });
    expectInsufficientScope(await fhirFetch(t, 'Observation/del1', { method: 'DELETE', token: as('system/Observation.cus') }));
    expect((await fhirFetch(t, 'Observation/del1', { method: 'DELETE', token: as('system/Observation.d') })).status).toBe(200);
    expectInsufficientScope(await fhirFetch(t, 'Observation?identifier=http://x|del2', { method: 'DELETE', token: as('system/Observation.d') }));
    expect((await fhirFetch(t, 'Observation/del2')).status).toBe(200);
    expect((await fhirFetch(t, 'Observation?identifier=http://x|del2', { method: 'DELETE', token: as('system/Observation.ds') })).status).toBe(200);
    expect((await fhirFetch(t, 'Observation/del2')).status).toBe(410);
  });

  it('a batch checks each entry as its own interaction: only the denied entries fail', async () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: 'Observation/lab1' } },
        { request: { method: 'GET', url: 'Patient/p1' } },
        { request: { method: 'POST', url: 'Observation' }, resource: obs() },
        { request: { method: 'GET', url: 'Observation?_count=1' } },
      ],
    };
    const res = await fhirFetch(t, '', { method: 'POST', body: bundle, token: as('system/Observation.rs') });
    expect(res.status).toBe(200);
    expect(res.body.entry.map((e: { response: { status: string } }) => e.response.status.slice(0, 3))).toEqual(['200', '403', '403', '200']);
    expect(res.body.entry[1].response.outcome.issue[0].diagnostics).toMatch(/Bundle\.entry\[1\].*read on Patient/);
  });

  it('a transaction with a denied entry fails whole and writes nothing', async () => {
    const before = (await fhirFetch(t, 'Observation?_summary=count')).body.total;
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:1', request: { method: 'POST', url: 'Observation' }, resource: obs() },
        { request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient' } },
      ],
    };
    const denied = await fhirFetch(t, '', { method: 'POST', body: bundle, token: as('system/Observation.crs') });
    expectInsufficientScope(denied);
    expect((await fhirFetch(t, 'Observation?_summary=count')).body.total).toBe(before);

    const allowed = await fhirFetch(t, '', { method: 'POST', body: { ...bundle, entry: [bundle.entry[0]] }, token: as('system/Observation.crs') });
    expect(allowed.status).toBe(200);
    expect((await fhirFetch(t, 'Observation?_summary=count')).body.total).toBe(before + 1);
  });

  it('conditional references and If-None-Exist entries in a transaction need s', async () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ request: { method: 'POST', url: 'Observation' }, resource: obs(undefined, { subject: { reference: 'Patient?_id=p1' } }) }],
    };
    const res = await fhirFetch(t, '', { method: 'POST', body: bundle, token: as('system/Observation.crs') });
    expectInsufficientScope(res);
    expect(res.body.issue[0].diagnostics).toMatch(/conditional reference.*on Patient/);
    const ifNoneExist = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ fullUrl: 'urn:uuid:2', request: { method: 'POST', url: 'Observation', ifNoneExist: 'status=final' }, resource: obs() }],
    };
    const denied = await fhirFetch(t, '', { method: 'POST', body: ifNoneExist, token: as('system/Observation.c') });
    expectInsufficientScope(denied);
    expect(denied.body.issue[0].diagnostics).toMatch(/If-None-Exist/);
  });

  it('an X-Provenance header stores a Provenance: it needs c on Provenance', async () => {
    const header = JSON.stringify({ resourceType: 'Provenance', recorded: '2024-01-01T00:00:00Z', agent: [{ who: { display: 'x' } }] });
    const res = await fhirFetch(t, 'Observation', { method: 'POST', body: obs(), headers: { 'x-provenance': header }, token: as('system/Observation.c') });
    expectInsufficientScope(res);
  });

  it('the full-access token still does everything, and metadata needs no token', async () => {
    expect((await fhirFetch(t, 'Observation?_total=accurate')).body.total).toBeGreaterThan(4);
    expect((await fhirFetch(t, 'metadata', { token: null })).status).toBe(200);
    expect((await fhirFetch(t, 'Observation', { token: null })).status).toBe(401);
  });
});
