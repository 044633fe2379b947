import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { engines } from '../helpers/db.js';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { provenancesTargeting } from '../helpers/provenance.js';

const patient = { resourceType: 'Patient', name: [{ family: 'Curie' }] };

describe.each(engines())('Provenance on writes on %s', (engine) => {
  let t: TestApp;
  const provenancesFor = (type: string, id: string) => provenancesTargeting(t.app.db.knex, type, id);
  beforeAll(async () => {
    t = await startTestApp(engine);
  });
  afterAll(() => t.stop());

  it('records one automatically, naming the calling API client, with a version-specific target', async () => {
    const c = await fhirFetch(t, 'Patient', { method: 'POST', body: patient });
    const [prov, ...more] = await provenancesFor('Patient', c.body.id);
    expect(more).toHaveLength(0);
    expect(prov.target).toEqual([{ reference: `Patient/${c.body.id}/_history/1` }]);
    // A backend token has no user: the agent is the client, by its id at this issuer.
    const tokenInfo = await t.app.smart.bearer.authenticate(`Bearer ${t.token}`);
    expect(prov.agent[0].who.identifier).toEqual({ system: `${t.config.issuer}/clients`, value: tokenInfo.clientId });
    expect(prov.activity.coding[0].code).toBe('CREATE');
    expect(prov.recorded).toBe(c.body.meta.lastUpdated);
    expect((await fhirFetch(t, 'Device/kiln-server')).status).toBe(200);
  });

  it('stores the X-Provenance header with its target set to the new version', async () => {
    const header = {
      resourceType: 'Provenance',
      recorded: '2026-01-02T03:04:05Z',
      agent: [{ who: { reference: 'Practitioner/dr-x', display: 'Dr X' } }],
      target: [{ reference: 'Patient/whatever' }],
      reason: [{ text: 'chart correction' }],
    };
    const c = await fhirFetch(t, 'Patient/xp-1', { method: 'PUT', body: { ...patient, id: 'xp-1' }, headers: { 'x-provenance': JSON.stringify(header) } });
    expect(c.status).toBe(201);
    const provs = await provenancesFor('Patient', 'xp-1');
    expect(provs).toHaveLength(1);
    expect(provs[0].target).toEqual([{ reference: 'Patient/xp-1/_history/1' }]);
    expect(provs[0].agent[0].who.display).toBe('Dr X');
    expect(provs[0].reason[0].text).toBe('chart correction');
  });

  it('records nothing for a Provenance written directly, and nothing when turned off', async () => {
    const before = Number((await t.app.db.knex('resources').where({ resource_type: 'Provenance' }).count({ n: '*' }))[0].n);
    const direct = {
      resourceType: 'Provenance',
      recorded: '2026-01-02T03:04:05Z',
      agent: [{ who: { display: 'someone' } }],
      target: [{ reference: 'Patient/xp-1' }],
    };
    expect((await fhirFetch(t, 'Provenance', { method: 'POST', body: direct })).status).toBe(201);
    const after = Number((await t.app.db.knex('resources').where({ resource_type: 'Provenance' }).count({ n: '*' }))[0].n);
    expect(after - before).toBe(1);
    const off = await startTestApp(engine, { KILN_AUTO_PROVENANCE: 'false' });
    try {
      const c = await fhirFetch(off, 'Patient', { method: 'POST', body: patient });
      expect(c.status).toBe(201);
      const n = Number((await off.app.db.knex('resources').where({ resource_type: 'Provenance' }).count({ n: '*' }))[0].n);
      expect(n).toBe(0);
    } finally {
      await off.stop();
    }
  });

  it('a failed write records no Provenance either', async () => {
    const before = Number((await t.app.db.knex('resources').where({ resource_type: 'Provenance' }).count({ n: '*' }))[0].n);
    const res = await fhirFetch(t, 'Patient/xp-1', { method: 'PUT', body: { ...patient, id: 'xp-1' }, headers: { 'if-match': 'W/"5"' } });
    expect(res.status).toBe(412);
    const after = Number((await t.app.db.knex('resources').where({ resource_type: 'Provenance' }).count({ n: '*' }))[0].n);
    expect(after).toBe(before);
  });
});
