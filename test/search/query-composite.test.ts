import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { engines } from '../helpers/db.js';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { failing, ids, putAll, type Res } from './query-fixtures.js';

/**
 * Composite search parameters through HTTP (https://hl7.org/fhir/R4/search.html#composite):
 * components joined by `$`, each read by its own parameter's rules, matched within one
 * item of the composite's expression, OR by comma, `\$` for a literal dollar.
 */

const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const SCT = 'http://snomed.info/sct';
const ACME = 'http://acme.org/codes';

const coded = (system: string, code: string) => ({ coding: [{ system, code }] });
const mmHg = (value: number) => ({ value, system: UCUM, code: 'mm[Hg]', unit: 'mmHg' });
const obs = (id: string, code: object, extra: Record<string, unknown> = {}): Res => ({ resourceType: 'Observation', id, status: 'final', code, ...extra });

const observations: Res[] = [
  // A blood pressure panel: the systolic and diastolic values are in components.
  obs('bp-1', coded(LOINC, '85354-9'), {
    component: [
      { code: coded(LOINC, '8480-6'), valueQuantity: mmHg(120) },
      { code: coded(LOINC, '8462-4'), valueQuantity: mmHg(80) },
    ],
  }),
  // Systolic 90, diastolic 140: "systolic > 100" holds only across two components.
  obs('bp-2', coded(LOINC, '85354-9'), {
    component: [
      { code: coded(LOINC, '8480-6'), valueQuantity: mmHg(90) },
      { code: coded(LOINC, '8462-4'), valueQuantity: mmHg(140) },
    ],
  }),
  obs('hr-1', coded(LOINC, '8867-4'), { valueQuantity: { value: 72, system: UCUM, code: '/min' } }),
  obs('hr-2', coded(LOINC, '8867-4'), { valueQuantity: { value: 110, system: UCUM, code: '/min' } }),
  obs('glu-1', coded(LOINC, '2339-0'), { valueQuantity: { value: 5.4, system: UCUM, code: 'mmol/L' } }),
  obs('smoke-1', coded(LOINC, '72166-2'), { valueCodeableConcept: coded(SCT, '449868002') }),
  obs('smoke-2', coded(LOINC, '72166-2'), { valueCodeableConcept: coded(SCT, '8517006') }),
  obs('date-1', coded(ACME, 'onset'), { valueDateTime: '2020-05-01' }),
  obs('date-2', coded(ACME, 'onset'), { valueDateTime: '2021-01-15T10:00:00Z' }),
  obs('period-1', coded(ACME, 'onset'), { valuePeriod: { start: '2020-01-01', end: '2020-12-31' } }),
  obs('note-1', coded(ACME, 'note'), { valueString: 'Positive result' }),
  obs('note-2', coded(ACME, 'note'), { valueString: 'costs $5' }),
  obs('dollar-1', coded(ACME, 'a$b'), { valueQuantity: { value: 1 } }),
  // The observation's own code and value, and a component's: combo parameters see both.
  obs('combo-1', coded(ACME, 'A'), { valueQuantity: { value: 10 }, component: [{ code: coded(ACME, 'B'), valueQuantity: { value: 20 } }] }),
  obs('concepts-1', coded(ACME, 'panel'), {
    component: [
      { code: coded(ACME, 'c1'), valueCodeableConcept: coded(ACME, 'v1') },
      { code: coded(ACME, 'c2'), valueCodeableConcept: coded(ACME, 'v2') },
    ],
  }),
];

const others: Res[] = [
  {
    resourceType: 'Group', id: 'grp-1', type: 'person', actual: true,
    characteristic: [
      { code: coded(ACME, 'gender'), valueCodeableConcept: coded(ACME, 'female'), exclude: false },
      { code: coded(ACME, 'smoker'), valueBoolean: true, exclude: false },
    ],
  },
  { resourceType: 'DocumentReference', id: 'doc-1', status: 'current', content: [{ attachment: { contentType: 'text/plain' } }] },
  { resourceType: 'DocumentReference', id: 'doc-2', status: 'current', content: [{ attachment: { contentType: 'text/plain' } }], relatesTo: [{ code: 'replaces', target: { reference: 'DocumentReference/doc-1' } }] },
  { resourceType: 'DocumentReference', id: 'doc-3', status: 'current', content: [{ attachment: { contentType: 'text/plain' } }], relatesTo: [{ code: 'appends', target: { reference: 'DocumentReference/doc-1' } }] },
  {
    resourceType: 'MolecularSequence', id: 'seq-1', coordinateSystem: 0,
    referenceSeq: { chromosome: coded('http://terminology.hl7.org/CodeSystem/chromosome-human', '1'), windowStart: 1, windowEnd: 500 },
    variant: [{ start: 10, end: 15 }, { start: 100, end: 120 }],
  },
  {
    resourceType: 'Library', id: 'lib-1', status: 'active', type: coded('http://terminology.hl7.org/CodeSystem/library-type', 'logic-library'),
    useContext: [
      { code: { system: 'http://terminology.hl7.org/CodeSystem/usage-context-type', code: 'age' }, valueRange: { low: { value: 18, unit: 'a' }, high: { value: 65, unit: 'a' } } },
      { code: { system: 'http://terminology.hl7.org/CodeSystem/usage-context-type', code: 'focus' }, valueCodeableConcept: coded(SCT, '44054006') },
    ],
  },
  {
    resourceType: 'Library', id: 'lib-2', status: 'active', type: coded('http://terminology.hl7.org/CodeSystem/library-type', 'logic-library'),
    useContext: [{ code: { system: 'http://terminology.hl7.org/CodeSystem/usage-context-type', code: 'age' }, valueQuantity: { value: 10, unit: 'a' } }],
  },
  {
    resourceType: 'Measure', id: 'msr-1', status: 'active',
    useContext: [{ code: { system: 'http://terminology.hl7.org/CodeSystem/usage-context-type', code: 'focus' }, valueCodeableConcept: coded(SCT, '44054006') }],
  },
];

describe.each(engines())('composite search on %s', (engine) => {
  let t: TestApp;
  const q = (query: string) => ids(t, query);
  beforeAll(async () => {
    t = await startTestApp(engine);
    await putAll(t, [...observations, ...others]);
  });
  afterAll(() => t.stop());

  it('matches the components within one item only', async () => {
    expect(await q(`Observation?component-code-value-quantity=${LOINC}|8480-6$gt100`)).toEqual(['bp-1']);
    expect(await q(`Observation?component-code-value-quantity=${LOINC}|8462-4$gt100`)).toEqual(['bp-2']);
    expect(await q(`Observation?component-code-value-quantity=${LOINC}|8480-6$lt100`)).toEqual(['bp-2']);
    expect(await q('Observation?component-code-value-concept=c1$v1')).toEqual(['concepts-1']);
    expect(await q('Observation?component-code-value-concept=c1$v2')).toEqual([]);
    expect(await q(`Group?characteristic-value=gender$${ACME}|female`)).toEqual(['grp-1']);
    expect(await q('Group?characteristic-value=smoker$true')).toEqual(['grp-1']);
    expect(await q('Group?characteristic-value=gender$true')).toEqual([]);
    // Variant 1 starts at 10 and variant 2 ends at 120, but no one variant does both.
    expect(await q('MolecularSequence?chromosome-variant-coordinate=1$le10$ge120')).toEqual([]);
    expect(await q('MolecularSequence?chromosome-variant-coordinate=1$ge100$le120')).toEqual(['seq-1']);
  });

  it('reads a quantity component with its prefixes and units', async () => {
    expect(await q(`Observation?code-value-quantity=${LOINC}|8867-4$gt100`)).toEqual(['hr-2']);
    expect(await q(`Observation?code-value-quantity=${LOINC}|8867-4$le72`)).toEqual(['hr-1']);
    expect(await q('Observation?code-value-quantity=8867-4$72')).toEqual(['hr-1']);
    expect(await q(`Observation?code-value-quantity=8867-4$gt50|${UCUM}|/min`)).toEqual(['hr-1', 'hr-2']);
    expect(await q(`Observation?code-value-quantity=8867-4$gt50|${UCUM}|mg`)).toEqual([]);
    expect(await q('Observation?code-value-quantity=2339-0$5.4')).toEqual(['glu-1']);
    expect(await q('Observation?code-value-quantity=2339-0$5.5')).toEqual([]);
    // Combo parameters see the observation's own code and value and its components'.
    expect(await q('Observation?combo-code-value-quantity=A$10')).toEqual(['combo-1']);
    expect(await q('Observation?combo-code-value-quantity=B$20')).toEqual(['combo-1']);
    expect(await q('Observation?combo-code-value-quantity=A$20')).toEqual([]);
    expect(await q('Observation?combo-code-value-quantity=8480-6$120')).toEqual(['bp-1']);
  });

  it('reads token, date, string, number and reference components by their own rules', async () => {
    expect(await q(`Observation?code-value-concept=${LOINC}|72166-2$${SCT}|449868002`)).toEqual(['smoke-1']);
    expect(await q(`Observation?code-value-concept=72166-2$${SCT}|`)).toEqual(['smoke-1', 'smoke-2']);
    expect(await q('Observation?code-value-date=onset$2020')).toEqual(['date-1', 'period-1']);
    expect(await q('Observation?code-value-date=onset$ge2021')).toEqual(['date-2']);
    expect(await q('Observation?code-value-date=onset$lt2020-06')).toEqual(['date-1', 'period-1']);
    expect(await q('Observation?code-value-string=note$posit')).toEqual(['note-1']);
    expect(await q('Observation?code-value-string=note$POSITIVE')).toEqual(['note-1']);
    expect(await q('Observation?code-value-string=note$result')).toEqual([]);
    expect(await q('MolecularSequence?chromosome-window-coordinate=1$1$500')).toEqual(['seq-1']);
    expect(await q('DocumentReference?relationship=DocumentReference/doc-1$replaces')).toEqual(['doc-2']);
    expect(await q('DocumentReference?relationship=doc-1$appends')).toEqual(['doc-3']);
    expect(await q('DocumentReference?relationship=doc-2$appends')).toEqual([]);
    expect(await q('Library?context-type-quantity=age$gt30')).toEqual(['lib-1']);
    expect(await q('Library?context-type-quantity=age$lt15')).toEqual(['lib-2']);
    expect(await q(`Library?context-type-value=focus$${SCT}|44054006`)).toEqual(['lib-1']);
  });

  it('ORs comma-separated composites and ANDs repeated ones', async () => {
    expect(await q(`Observation?code-value-quantity=${LOINC}|8867-4$gt100,${LOINC}|2339-0$5.4`)).toEqual(['glu-1', 'hr-2']);
    expect(await q('Observation?component-code-value-quantity=8480-6$gt100,8462-4$gt100')).toEqual(['bp-1', 'bp-2']);
    expect(await q('Observation?component-code-value-quantity=8480-6$gt100&component-code-value-quantity=8462-4$lt100')).toEqual(['bp-1']);
    expect(await q('Observation?component-code-value-quantity=8480-6$gt100&component-code-value-quantity=8462-4$gt100')).toEqual([]);
    expect(await q('Observation?code-value-quantity=8867-4$gt50&code-value-quantity=8867-4$lt100')).toEqual(['hr-1']);
  });

  it('reads \\$ as a literal dollar, in any component', async () => {
    expect(await q(`Observation?code-value-string=note$${encodeURIComponent('costs \\$5')}`)).toEqual(['note-2']);
    expect(await q(`Observation?code-value-quantity=${ACME}|a\\$b$1`)).toEqual(['dollar-1']);
    expect((await failing(t, `Observation?code-value-quantity=${ACME}|a$b$1`)).status).toBe(400);
  });

  it('searches across types that share a composite, and with :missing', async () => {
    expect(await q(`?_type=Library,Measure&context-type-value=focus$${SCT}|44054006`)).toEqual(['lib-1', 'msr-1']);
    expect(await q('Observation?code-value-concept:missing=false')).toEqual(['smoke-1', 'smoke-2']);
    expect(await q('Observation?_id=bp-1,hr-1,smoke-1&component-code-value-quantity:missing=true')).toEqual(['hr-1', 'smoke-1']);
  });

  it('works inside _has, and under lenient handling leaves a bad composite out', async () => {
    await putAll(t, [
      { resourceType: 'Patient', id: 'pt-1' },
      obs('hr-3', coded(LOINC, '8867-4'), { subject: { reference: 'Patient/pt-1' }, valueQuantity: { value: 130, system: UCUM, code: '/min' } }),
    ]);
    expect(await q('Patient?_has:Observation:subject:code-value-quantity=8867-4$gt120')).toEqual(['pt-1']);
    expect(await q('Patient?_has:Observation:subject:code-value-quantity=8867-4$lt120')).toEqual([]);
    expect((await failing(t, 'Observation?code=8867-4&code-value-quantity=oops')).status).toBe(400);
    expect(await ids(t, 'Observation?code=8867-4&code-value-quantity=oops', { prefer: 'handling=lenient' })).toEqual(['hr-1', 'hr-2', 'hr-3']);
    expect((await failing(t, 'Observation?_sort=code-value-quantity')).status).toBe(400);
  });

  it('answers bad composite values with a 400 naming the parameter', async () => {
    const bad: [string, string][] = [
      ['Observation?code-value-quantity=8480-6', 'code-value-quantity'],
      ['Observation?code-value-quantity=a$1$2', 'code-value-quantity'],
      ['Observation?code-value-quantity=8480-6$abc', 'code-value-quantity'],
      ['Observation?code-value-quantity=$5', 'code-value-quantity'],
      ['Observation?code-value-quantity=8480-6$', 'code-value-quantity'],
      ['Observation?code-value-quantity=8480-6$xx5', 'code-value-quantity'],
      ['Observation?code-value-quantity=a|b|c$5', 'code-value-quantity'],
      ['Observation?code-value-date=onset$2020-13', 'code-value-date'],
      ['Observation?code-value-quantity:not=8480-6$5', 'code-value-quantity:not'],
      ['Observation?code-value-quantity:missing=maybe', 'code-value-quantity:missing'],
      ['DocumentReference?relationship=Foo/1$replaces', 'relationship'],
      ['DocumentReference?relationship=Patient/1$replaces', 'relationship'],
      ['MolecularSequence?chromosome-variant-coordinate=1$x$2', 'chromosome-variant-coordinate'],
    ];
    for (const [query, name] of bad) {
      const res = await failing(t, query);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expect(res.expression).toContain(name);
    }
    const res = await fhirFetch(t, 'Observation?code-value-quantity=a$1$2');
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.text).toContain('takes 2 (code$value-quantity)');
  });

  it('lists the composites in the CapabilityStatement', async () => {
    const res = await fhirFetch(t, 'metadata');
    const resources = res.body.rest[0].resource as { type: string; searchParam?: { name: string; type: string }[] }[];
    const params = (type: string) => resources.find((r) => r.type === type)?.searchParam ?? [];
    expect(params('Observation')).toEqual(expect.arrayContaining([
      expect.objectContaining({ name: 'code-value-quantity', type: 'composite' }),
      expect.objectContaining({ name: 'component-code-value-concept', type: 'composite' }),
    ]));
    expect(params('DocumentReference').map((p) => p.name)).toContain('relationship');
  });

  it('follows updates and deletes of the resources', async () => {
    const bp1 = observations.find((o) => o.id === 'bp-1') as Res;
    const lowered = { ...bp1, component: [{ code: coded(LOINC, '8480-6'), valueQuantity: mmHg(95) }, { code: coded(LOINC, '8462-4'), valueQuantity: mmHg(80) }] };
    expect((await fhirFetch(t, 'Observation/bp-1', { method: 'PUT', body: lowered })).status).toBe(200);
    expect(await q(`Observation?component-code-value-quantity=${LOINC}|8480-6$gt100`)).toEqual([]);
    expect(await q(`Observation?component-code-value-quantity=${LOINC}|8480-6$lt100`)).toEqual(['bp-1', 'bp-2']);
    expect((await fhirFetch(t, 'Observation/bp-2', { method: 'DELETE' })).status).toBe(200);
    expect(await q(`Observation?component-code-value-quantity=${LOINC}|8480-6$lt100`)).toEqual(['bp-1']);
    expect(await q('Observation?component-code-value-quantity=8462-4$140')).toEqual([]);
  });
});
