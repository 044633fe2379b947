import { engines } from '../helpers/db.js';
import {
  bundle,
  encounter,
  FileSet,
  harness,
  NPI,
  observation,
  patient,
  practitioner,
  uuid,
  uuidEntry,
  type ImportHarness,
} from './fixtures.js';

/**
 * How `kiln import` resolves references: `urn:uuid:` across files in any order, from the
 * database, conditional references by identifier, and what it reports when it cannot.
 */
describe.each(engines())('kiln import references (%s)', (engine) => {
  let h: ImportHarness;
  let files: FileSet;

  beforeEach(async () => {
    h = await harness(engine);
    files = new FileSet();
  });
  afterEach(async () => {
    await h.close();
    files.remove();
  });

  it.each([
    ['patients first', ['a.json', 'b.json']],
    ['observations first', ['b.json', 'a.json']],
  ])('resolves urn:uuid references across two files (%s)', async (_name, order) => {
    const [p, org, obs] = [uuid(), uuid(), uuid()];
    files.json('a.json', bundle([uuidEntry('Patient', p, { ...patient('Across'), managingOrganization: { reference: `urn:uuid:${org}` } })]));
    files.json(
      'b.json',
      bundle([
        uuidEntry('Organization', org, { name: 'Clinic' }),
        uuidEntry('Observation', obs, observation(`urn:uuid:${p}`, { text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">urn:uuid:${p}</div>` } })),
      ]),
    );
    const summary = await h.run(order.map((n) => files.path(n)));
    expect(summary.failed).toEqual([]);
    expect(summary.resources).toBe(3);
    expect((await h.read('Observation', obs))?.subject.reference).toBe(`Patient/${p}`);
    expect((await h.read('Patient', p))?.managingOrganization.reference).toBe(`Organization/${org}`);
    // Only Reference.reference is rewritten, never narrative.
    expect((await h.read('Observation', obs))?.text.div).toContain(`urn:uuid:${p}`);
  });

  it.each([
    ['patient first', ['p.json', 'o.json']],
    ['observation first', ['o.json', 'p.json']],
  ])('resolves urn:uuid:X to the entry of the import with id X, whatever its fullUrl (%s)', async (_name, order) => {
    const [p, obs] = [uuid(), uuid()];
    files.json('p.json', bundle([{ fullUrl: `https://example.org/fhir/Patient/${p}`, resource: { resourceType: 'Patient', ...patient('Elsewhere') }, request: { method: 'PUT', url: `Patient/${p}` } }]));
    files.json('o.json', bundle([uuidEntry('Observation', obs, observation(`urn:uuid:${p}`))]));
    const summary = await h.run(order.map((n) => files.path(n)));
    expect(summary.failed).toEqual([]);
    expect((await h.read('Observation', obs))?.subject.reference).toBe(`Patient/${p}`);
  });

  it('fails the file of a urn:uuid:X that entries of two types have as their id', async () => {
    const [x, obs] = [uuid(), uuid()];
    const put = (type: string, body: Record<string, unknown>) => ({ fullUrl: `https://example.org/fhir/${type}/${x}`, resource: { resourceType: type, ...body }, request: { method: 'PUT', url: `${type}/${x}` } });
    files.json('a.json', bundle([put('Patient', patient('Twin')), put('Practitioner', { name: [{ family: 'Twin' }] })]));
    const bad = files.json('b.json', bundle([uuidEntry('Observation', obs, observation(`urn:uuid:${x}`))]));
    const summary = await h.run([files.dir]);
    expect(summary.failed.map((f) => f.file.path)).toEqual([bad]);
    expect(summary.failed[0].failure?.message).toContain(`urn:uuid:${x} is ambiguous`);
    expect(await h.read('Observation', obs)).toBeUndefined();
  });

  it('resolves urn:uuid references to resources an earlier import stored', async () => {
    const p = uuid();
    await h.run([files.json('first/p.json', bundle([uuidEntry('Patient', p, patient('Earlier'))]))]);
    const obs = uuid();
    const summary = await h.run([files.json('second/o.json', bundle([uuidEntry('Observation', obs, observation(`urn:uuid:${p}`))]))]);
    expect(summary.failed).toEqual([]);
    expect((await h.read('Observation', obs))?.subject.reference).toBe(`Patient/${p}`);
  });

  it('resolves conditional references by identifier, from a later file and from the database', async () => {
    const [doc, p, enc] = [uuid(), uuid(), uuid()];
    files.json('1-visits.json', bundle([uuidEntry('Patient', p, patient('Cond')), uuidEntry('Encounter', enc, encounter(`urn:uuid:${p}`, `Practitioner?identifier=${NPI}|1234567890`))]));
    files.json('2-practitioners.json', bundle([uuidEntry('Practitioner', doc, practitioner('1234567890'))]));
    expect((await h.run([files.dir])).failed).toEqual([]);
    expect((await h.read('Encounter', enc))?.participant[0].individual.reference).toBe(`Practitioner/${doc}`);

    const enc2 = uuid();
    const later = files.json('later/visit.json', bundle([uuidEntry('Encounter', enc2, encounter(`Patient/${p}`, `Practitioner?identifier=${encodeURIComponent(`${NPI}|1234567890`)}`))]));
    expect((await h.run([later])).failed).toEqual([]);
    expect((await h.read('Encounter', enc2))?.participant[0].individual.reference).toBe(`Practitioner/${doc}`);
  });

  it('reports an unresolvable reference with file, entry and path; the file leaves nothing, earlier files stay', async () => {
    const [p1, p2, p3, obs, missing] = [uuid(), uuid(), uuid(), uuid(), uuid()];
    files.json('1.json', bundle([uuidEntry('Patient', p1, patient('One'))]));
    const bad = files.json('2.json', bundle([uuidEntry('Patient', p2, patient('Two')), uuidEntry('Observation', obs, observation(`urn:uuid:${missing}`))]));
    files.json('3.json', bundle([uuidEntry('Patient', p3, patient('Three'))]));
    const summary = await h.run([files.dir]);
    expect(summary.failed).toHaveLength(1);
    const [failed] = summary.failed;
    expect(failed.file.path).toBe(bad);
    expect(failed.failure?.entry).toBe('entry 1');
    expect(failed.failure?.path).toBe('Observation.subject.reference');
    expect(failed.failure?.message).toContain(`urn:uuid:${missing}`);
    expect(await h.read('Patient', p1)).toBeDefined();
    expect(await h.read('Patient', p2)).toBeUndefined();
    expect(await h.read('Patient', p3)).toBeDefined();
    expect(await h.count('Provenance')).toBe(2);
    expect(summary.resources).toBe(2);
  });

  it('fails a conditional reference that matches several resources, naming them', async () => {
    const [a, b, enc, p] = [uuid(), uuid(), uuid(), uuid()];
    files.json('docs.json', bundle([uuidEntry('Practitioner', a, practitioner('42', 'A')), uuidEntry('Practitioner', b, practitioner('42', 'B'))]));
    files.json('visit.json', bundle([uuidEntry('Patient', p, patient('Two docs')), uuidEntry('Encounter', enc, encounter(`urn:uuid:${p}`, `Practitioner?identifier=${NPI}|42`))]));
    const summary = await h.run([files.dir]);
    expect(summary.failed.map((f) => f.file.path)).toEqual([files.path('visit.json')]);
    expect(summary.failed[0].failure?.path).toBe('Encounter.participant[0].individual.reference');
    expect(summary.failed[0].failure?.message).toMatch(/matches 2 resources/);
    expect(await h.read('Encounter', enc)).toBeUndefined();
  });

  it('fails a conditional reference that matches nothing, and criteria other than one identifier', async () => {
    const [p, e1, p2, e2] = [uuid(), uuid(), uuid(), uuid()];
    files.json('a.json', bundle([uuidEntry('Patient', p, patient('None')), uuidEntry('Encounter', e1, encounter(`urn:uuid:${p}`, `Practitioner?identifier=${NPI}|000`))]));
    files.json('b.json', bundle([uuidEntry('Patient', p2, patient('Name')), uuidEntry('Encounter', e2, encounter(`urn:uuid:${p2}`, 'Practitioner?name=Doc'))]));
    const summary = await h.run([files.dir]);
    expect(summary.failed.map((f) => f.failure?.message)).toEqual([
      expect.stringMatching(/matches no Practitioner/),
      expect.stringMatching(/one identifier only/),
    ]);
  });
});
