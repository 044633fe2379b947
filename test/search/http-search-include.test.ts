import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { engines } from '../helpers/db.js';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { included, matches, putAll, searchBundle, type Res } from './query-fixtures.js';

/**
 * `_include` / `_revinclude` (with `:iterate` and `*`), and the Provenance every write
 * records, found with `_revinclude=Provenance:target`.
 * See: https://hl7.org/fhir/R4/search.html#include and https://hl7.org/fhir/R4/provenance.html
 */

const fixtures: Res[] = [
  { resourceType: 'Practitioner', id: 'inc-doc', name: [{ family: 'Doc' }] },
  { resourceType: 'Organization', id: 'inc-org', name: 'Org' },
  { resourceType: 'Patient', id: 'inc-p1', generalPractitioner: [{ reference: 'Practitioner/inc-doc' }], managingOrganization: { reference: 'Organization/inc-org' } },
  { resourceType: 'Patient', id: 'inc-p2', link: [{ other: { reference: 'Patient/inc-p1' }, type: 'seealso' }] },
  { resourceType: 'Patient', id: 'inc-gone' },
  { resourceType: 'Observation', id: 'inc-o1', status: 'final', code: { text: 'inc' }, subject: { reference: 'Patient/inc-p1' }, performer: [{ reference: 'Practitioner/inc-doc' }] },
  { resourceType: 'Observation', id: 'inc-o2', status: 'final', code: { text: 'inc' }, subject: { reference: 'Patient/inc-p1' } },
  { resourceType: 'Observation', id: 'inc-o3', status: 'final', code: { text: 'inc' }, subject: { reference: 'Patient/inc-gone' } },
];

const keys = (entries: { resource: { resourceType: string; id: string } }[]) => entries.map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort();

describe.each(engines())('_include and _revinclude on %s', (engine) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(engine);
    await putAll(t, fixtures);
    await fhirFetch(t, 'Patient/inc-gone', { method: 'DELETE' });
  });
  afterAll(() => t.stop());

  it('includes each referenced resource once, as mode=include, and never a deleted one', async () => {
    const bundle = await searchBundle(t, 'Observation?code:text=inc&_include=Observation:subject');
    expect(keys(matches(bundle))).toEqual(['Observation/inc-o1', 'Observation/inc-o2', 'Observation/inc-o3']);
    expect(keys(included(bundle))).toEqual(['Patient/inc-p1']);
    expect(included(bundle)[0].fullUrl).toBe(`${t.base}/Patient/inc-p1`);
    expect(bundle.link.find((l) => l.relation === 'self')?.url).toContain('_include=Observation%3Asubject');
  });

  it('narrows by target type, widens with *, and leaves matches out of the includes', async () => {
    const typed = await searchBundle(t, 'Observation?_id=inc-o1&_include=Observation:subject:Patient&_include=Observation:performer:Practitioner');
    expect(keys(included(typed))).toEqual(['Patient/inc-p1', 'Practitioner/inc-doc']);
    const wrongType = await searchBundle(t, 'Observation?_id=inc-o1&_include=Observation:performer:Organization');
    expect(included(wrongType)).toEqual([]);
    expect(keys(included(await searchBundle(t, 'Observation?_id=inc-o1&_include=Observation:*')))).toEqual(['Patient/inc-p1', 'Practitioner/inc-doc']);
    expect(keys(included(await searchBundle(t, 'Patient?_id=inc-p1&_include=*')))).toEqual(['Organization/inc-org', 'Practitioner/inc-doc']);
    const both = await searchBundle(t, 'Patient?_id=inc-p1,inc-p2&_include=Patient:link');
    expect(included(both)).toEqual([]);
  });

  it('revincludes the resources that point at the matches', async () => {
    const bundle = await searchBundle(t, 'Patient?_id=inc-p1&_revinclude=Observation:subject');
    expect(keys(included(bundle))).toEqual(['Observation/inc-o1', 'Observation/inc-o2']);
    const any = await searchBundle(t, 'Practitioner?_id=inc-doc&_revinclude=*');
    expect(keys(included(any).filter((e) => e.resource.resourceType !== 'Provenance'))).toEqual(['Observation/inc-o1', 'Patient/inc-p1']);
  });

  it(':iterate follows includes of includes', async () => {
    const bundle = await searchBundle(t, 'Observation?_id=inc-o2&_include=Observation:subject&_include:iterate=Patient:general-practitioner&_include:iterate=Patient:organization');
    expect(keys(included(bundle))).toEqual(['Organization/inc-org', 'Patient/inc-p1', 'Practitioner/inc-doc']);
    const rev = await searchBundle(t, 'Practitioner?_id=inc-doc&_revinclude=Patient:general-practitioner&_revinclude:iterate=Observation:subject');
    expect(keys(included(rev))).toEqual(['Observation/inc-o1', 'Observation/inc-o2', 'Patient/inc-p1']);
  });

  it('refuses include values that name nothing', async () => {
    for (const bad of ['Observation', 'Foo:bar', 'Observation:code', 'Observation:subject:Foo', 'Observation:subject:Medication', 'a:b:c:d']) {
      const res = await fhirFetch(t, `Observation?_include=${encodeURIComponent(bad)}`);
      expect([bad, res.status]).toEqual([bad, 400]);
    }
    expect((await fhirFetch(t, 'Observation?_include:deep=Observation:subject')).status).toBe(400);
  });

  describe('_revinclude=Provenance:target', () => {
    const types: Res[] = [
      { resourceType: 'Patient', id: 'prov-patient', name: [{ family: 'Prov' }] },
      { resourceType: 'Observation', id: 'prov-obs', status: 'final', code: { text: 'x' } },
      { resourceType: 'Practitioner', id: 'prov-doc' },
      { resourceType: 'Organization', id: 'prov-org', name: 'x' },
      { resourceType: 'Basic', id: 'prov-basic', code: { text: 'x' } },
      { resourceType: 'Condition', id: 'prov-cond', subject: { reference: 'Patient/prov-patient' } },
    ];

    it('finds the Provenance every write recorded, for every type', async () => {
      await putAll(t, types);
      for (const r of types) {
        const bundle = await searchBundle(t, `${r.resourceType}?_id=${r.id}&_revinclude=Provenance:target`);
        expect(keys(matches(bundle))).toEqual([`${r.resourceType}/${r.id}`]);
        const provenance = included(bundle);
        expect(provenance).toHaveLength(1);
        expect(provenance[0].resource.resourceType).toBe('Provenance');
        expect(provenance[0].resource.target).toEqual([{ reference: `${r.resourceType}/${r.id}/_history/1` }]);
      }
    });

    it('works on every type a bare resource can be created of', async () => {
      const cs = (await fhirFetch(t, 'metadata')).body as { rest: { resource: { type: string }[] }[] };
      let tried = 0;
      for (const { type } of cs.rest[0].resource) {
        if (type === 'Provenance' || type === 'AuditEvent') continue;
        const created = await fhirFetch(t, type, { method: 'POST', body: { resourceType: type } });
        if (created.status !== 201) continue;
        tried++;
        const bundle = await searchBundle(t, `${type}?_id=${created.body.id}&_revinclude=Provenance:target`);
        expect([type, keys(matches(bundle))]).toEqual([type, [`${type}/${created.body.id}`]]);
        expect([type, included(bundle).map((e) => e.resource.resourceType)]).toEqual([type, ['Provenance']]);
      }
      expect(tried).toBeGreaterThan(30);
    });

    it('finds one Provenance per write, and a shared one once', async () => {
      const p = await fhirFetch(t, 'Patient', { method: 'POST', body: { resourceType: 'Patient', name: [{ family: 'Versions' }] } });
      await fhirFetch(t, `Patient/${p.body.id}`, { method: 'PUT', body: { ...p.body, gender: 'other' } });
      const versions = await searchBundle(t, `Patient?_id=${p.body.id}&_revinclude=Provenance:target`);
      expect(included(versions)).toHaveLength(2);

      const tx = await fhirFetch(t, '', {
        method: 'POST',
        body: {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            { fullUrl: 'urn:uuid:3f1f5a7e-0000-4000-8000-000000000001', resource: { resourceType: 'Patient', name: [{ family: 'Tx' }] }, request: { method: 'POST', url: 'Patient' } },
            { fullUrl: 'urn:uuid:3f1f5a7e-0000-4000-8000-000000000002', resource: { resourceType: 'Patient', name: [{ family: 'Tx' }] }, request: { method: 'POST', url: 'Patient' } },
          ],
        },
      });
      expect(tx.status).toBe(200);
      const shared = await searchBundle(t, 'Patient?family=tx&_revinclude=Provenance:target');
      expect(matches(shared)).toHaveLength(2);
      expect(included(shared)).toHaveLength(1);
      expect((included(shared)[0].resource.target as unknown[]).length).toBe(2);
    });
  });
});
