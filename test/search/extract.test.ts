import { extractIndexRows } from '../../server/search/extract.js';
import { dedupeFrom } from '../../server/search/adders.js';
import { SPAN_LONG, SPAN_SHORT } from '../../server/search/ranges.js';
import { DATE_MAX, type IndexRows } from '../../server/search/types.js';

type Resource = { resourceType: string } & Record<string, unknown>;

/** The rows of one parameter code, without the code column, for compact expectations. */
function rowsOf<K extends keyof IndexRows>(rows: IndexRows, kind: K, code: string): Omit<IndexRows[K][number], 'code'>[] {
  return (rows[kind] as IndexRows[K][number][]).filter((r) => r.code === code).map(({ code: _code, ...rest }) => rest);
}

/** Extraction must not depend on the engine: every case is checked on both. */
function extract(resource: Resource): IndexRows {
  const rows = extractIndexRows(resource);
  expect(extractIndexRows(resource, { engine: 'fhirpath' })).toEqual(rows);
  return rows;
}

describe('extractIndexRows — dates', () => {
  it('indexes partial dates as the whole interval they name', () => {
    const year = extract({ resourceType: 'Patient', birthDate: '1970' });
    expect(rowsOf(year, 'date', 'birthdate')).toEqual([{ start: '1970-01-01T00:00:00.000Z', end: '1970-12-31T23:59:59.999Z', span: SPAN_LONG }]);
    const month = extract({ resourceType: 'Patient', birthDate: '2020-02' });
    expect(rowsOf(month, 'date', 'birthdate')).toEqual([{ start: '2020-02-01T00:00:00.000Z', end: '2020-02-29T23:59:59.999Z', span: SPAN_LONG }]);
    const day = extract({ resourceType: 'Patient', birthDate: '1999-12-31' });
    expect(rowsOf(day, 'date', 'birthdate')).toEqual([{ start: '1999-12-31T00:00:00.000Z', end: '1999-12-31T23:59:59.999Z', span: SPAN_SHORT }]);
  });

  it('converts times to UTC and keeps their precision', () => {
    const seconds = extract({ resourceType: 'Observation', effectiveDateTime: '2020-03-04T01:00:00+02:00' });
    expect(rowsOf(seconds, 'date', 'date')).toEqual([{ start: '2020-03-03T23:00:00.000Z', end: '2020-03-03T23:00:00.999Z', span: SPAN_SHORT }]);
    const tenths = extract({ resourceType: 'Observation', effectiveInstant: '2020-03-04T10:00:00.5Z' });
    expect(rowsOf(tenths, 'date', 'date')).toEqual([{ start: '2020-03-04T10:00:00.500Z', end: '2020-03-04T10:00:00.599Z', span: SPAN_SHORT }]);
    const millis = extract({ resourceType: 'Observation', effectiveInstant: '2020-03-04T10:00:00.123456-05:00' });
    expect(rowsOf(millis, 'date', 'date')).toEqual([{ start: '2020-03-04T15:00:00.123Z', end: '2020-03-04T15:00:00.123Z', span: SPAN_SHORT }]);
    // No zone (not valid FHIR with a time, but seen): taken as UTC.
    const local = extract({ resourceType: 'Observation', effectiveDateTime: '2020-03-04T10:00:00' });
    expect(rowsOf(local, 'date', 'date')).toEqual([{ start: '2020-03-04T10:00:00.000Z', end: '2020-03-04T10:00:00.999Z', span: SPAN_SHORT }]);
  });

  it('indexes Periods (open ends unbounded) and the outer limits of a Timing', () => {
    const closed = extract({ resourceType: 'Encounter', period: { start: '2020-01-01', end: '2020-01-02T10:00:00Z' } });
    expect(rowsOf(closed, 'date', 'date')).toEqual([{ start: '2020-01-01T00:00:00.000Z', end: '2020-01-02T10:00:00.999Z', span: SPAN_LONG }]);
    const open = extract({ resourceType: 'Encounter', period: { start: '2021-05' } });
    expect(rowsOf(open, 'date', 'date')).toEqual([{ start: '2021-05-01T00:00:00.000Z', end: DATE_MAX, span: SPAN_LONG }]);
    // Shorter than a day across midnight is still short; a day and a second is long.
    const night = extract({ resourceType: 'Encounter', period: { start: '2020-01-01T23:00:00Z', end: '2020-01-02T01:00:00Z' } });
    expect(rowsOf(night, 'date', 'date')[0].span).toBe(SPAN_SHORT);
    const dayAndMore = extract({ resourceType: 'Encounter', period: { start: '2020-01-01T10:00:00Z', end: '2020-01-02T10:00:00Z' } });
    expect(rowsOf(dayAndMore, 'date', 'date')[0].span).toBe(SPAN_LONG);
    const timing = extract({
      resourceType: 'CarePlan',
      activity: [{ detail: { scheduledTiming: { event: ['2020-03-01', '2020-01-15T10:00:00Z'], repeat: { boundsPeriod: { end: '2020-02' } } } } }],
    });
    expect(rowsOf(timing, 'date', 'activity-date')).toEqual([{ start: '0001-01-01T00:00:00.000Z', end: '2020-03-01T23:59:59.999Z', span: SPAN_LONG }]);
  });
});

describe('extractIndexRows — tokens', () => {
  it('indexes codings with and without system, plus :text rows', () => {
    const rows = extract({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8302-2', display: 'Body Height' }, { code: 'local-1' }], text: 'Höhe' },
    });
    expect(rowsOf(rows, 'token', 'status')).toEqual([{ system: null, value: 'final' }]);
    expect(rowsOf(rows, 'token', 'code')).toEqual([
      { system: 'http://loinc.org', value: '8302-2' },
      { system: null, value: 'local-1' },
    ]);
    expect(rowsOf(rows, 'token', 'code:text')).toEqual([
      { system: null, value: 'body height' },
      { system: null, value: 'hohe' },
    ]);
  });

  it('indexes identifiers with :of-type rows, booleans, telecoms and meta tags', () => {
    const rows = extract({
      resourceType: 'Patient',
      active: true,
      identifier: [
        { system: 'http://hospital.example/mrn', value: '123', type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }], text: 'MRN' } },
        { value: 'no-system' },
      ],
      telecom: [{ system: 'phone', value: '555-0100' }, { system: 'email', value: 'a@example.org' }],
      meta: { tag: [{ system: 'http://example.org/tags', code: 'test' }], security: [{ code: 'R' }], profile: ['http://example.org/StructureDefinition/p'] },
    });
    expect(rowsOf(rows, 'token', 'identifier')).toEqual([
      { system: 'http://hospital.example/mrn', value: '123' },
      { system: null, value: 'no-system' },
    ]);
    expect(rowsOf(rows, 'token', 'identifier:of-type')).toEqual([{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', value: 'MR|123' }]);
    expect(rowsOf(rows, 'token', 'identifier:text')).toEqual([{ system: null, value: 'mrn' }]);
    expect(rowsOf(rows, 'token', 'active')).toEqual([{ system: null, value: 'true' }]);
    expect(rowsOf(rows, 'token', 'phone')).toEqual([{ system: 'phone', value: '555-0100' }]);
    expect(rowsOf(rows, 'token', 'email')).toEqual([{ system: 'email', value: 'a@example.org' }]);
    expect(rowsOf(rows, 'token', 'telecom')).toHaveLength(2);
    expect(rowsOf(rows, 'token', '_tag')).toEqual([{ system: 'http://example.org/tags', value: 'test' }]);
    expect(rowsOf(rows, 'token', '_security')).toEqual([{ system: null, value: 'R' }]);
    expect(rowsOf(rows, 'uri', '_profile')).toEqual([{ value: 'http://example.org/StructureDefinition/p' }]);
    // deceased is "exists and not false": absent → false.
    expect(rowsOf(rows, 'token', 'deceased')).toEqual([{ system: null, value: 'false' }]);
    expect(rowsOf(extract({ resourceType: 'Patient', deceasedDateTime: '2020' }), 'token', 'deceased')).toEqual([{ system: null, value: 'true' }]);
  });
});

describe('extractIndexRows — strings', () => {
  it('indexes each HumanName and Address part, normalised and exact', () => {
    const rows = extract({
      resourceType: 'Patient',
      name: [{ family: 'Núñez', given: ['José', 'María'], prefix: ['Dr.'], suffix: ['Jr'], text: 'Dr. José Núñez' }],
      address: [{ line: ['1 Rue de l’Église'], city: 'Zürich', postalCode: '8001', country: 'CH' }],
    });
    expect(rowsOf(rows, 'string', 'family')).toEqual([{ value: 'nunez', exact: 'Núñez' }]);
    expect(rowsOf(rows, 'string', 'given').map((r) => r.value)).toEqual(['jose', 'maria']);
    expect(rowsOf(rows, 'string', 'name').map((r) => r.value)).toEqual(['nunez', 'jose', 'maria', 'dr.', 'jr', 'dr. jose nunez']);
    expect(rowsOf(rows, 'string', 'address-city')).toEqual([{ value: 'zurich', exact: 'Zürich' }]);
    expect(rowsOf(rows, 'string', 'address').map((r) => r.value)).toEqual(['1 rue de l’eglise', 'zurich', '8001', 'ch']);
  });

  it('cuts very long values to the indexed width', () => {
    const rows = extract({ resourceType: 'Patient', name: [{ family: 'x'.repeat(1000) }] });
    expect(rowsOf(rows, 'string', 'family')[0].value).toHaveLength(256);
  });
});

describe('extractIndexRows — numbers and quantities', () => {
  it('indexes the precision range of quantities', () => {
    const rows = extract({ resourceType: 'Observation', valueQuantity: { value: 5.4, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' } });
    expect(rowsOf(rows, 'quantity', 'value-quantity')).toEqual([{ system: 'http://unitsofmeasure.org', unit_code: 'mg', unit: 'mg', value: 5.4, low: 5.35, high: 5.45 }]);
    const whole = extract({ resourceType: 'Observation', valueQuantity: { value: 100, comparator: '<' } });
    expect(rowsOf(whole, 'quantity', 'value-quantity')).toEqual([{ system: null, unit_code: null, unit: null, value: 100, low: null, high: 100.5 }]);
  });

  it('indexes Age, Range and Money, and decimals as numbers', () => {
    const age = extract({ resourceType: 'Condition', onsetAge: { value: 45, system: 'http://unitsofmeasure.org', code: 'a' } });
    expect(rowsOf(age, 'quantity', 'onset-age')).toEqual([{ system: 'http://unitsofmeasure.org', unit_code: 'a', unit: null, value: 45, low: 44.5, high: 45.5 }]);
    const range = extract({ resourceType: 'Condition', onsetRange: { low: { value: 10, code: 'a' }, high: { value: 20, code: 'a' } } });
    expect(rowsOf(range, 'quantity', 'onset-age')).toEqual([{ system: null, unit_code: 'a', unit: null, value: null, low: 10, high: 20 }]);
    const money = extract({ resourceType: 'Invoice', totalGross: { value: 12.5, currency: 'EUR' } });
    expect(rowsOf(money, 'quantity', 'totalgross')).toEqual([{ system: 'urn:iso:std:iso:4217', unit_code: 'EUR', unit: null, value: 12.5, low: 12.45, high: 12.55 }]);
    const probability = extract({ resourceType: 'RiskAssessment', prediction: [{ probabilityDecimal: 0.25 }] });
    expect(rowsOf(probability, 'number', 'probability')).toEqual([{ value: 0.25, low: 0.245, high: 0.255 }]);
  });
});

describe('extractIndexRows — references', () => {
  it('indexes relative, versioned and absolute references; ignores contained ones', () => {
    const rows = extract({
      resourceType: 'Observation',
      subject: { reference: 'Patient/1' },
      performer: [
        { reference: 'Practitioner/7/_history/2' },
        { reference: 'https://other.example/fhir/Organization/9' },
        { reference: '#contained-1' },
        { identifier: { system: 'http://npi.example', value: '42' } },
      ],
    });
    const ref = (target_type: string | null, target_id: string | null, target_version: string | null = null, url: string | null = null) => ({ target_type, target_id, target_version, url });
    expect(rowsOf(rows, 'reference', 'subject')).toEqual([ref('Patient', '1')]);
    expect(rowsOf(rows, 'reference', 'patient')).toEqual([ref('Patient', '1')]);
    expect(rowsOf(rows, 'reference', 'performer')).toEqual([
      ref('Practitioner', '7', '2'),
      ref('Organization', '9', null, 'https://other.example/fhir/Organization/9'),
    ]);
    expect(rowsOf(rows, 'token', 'performer:identifier')).toEqual([{ system: 'http://npi.example', value: '42' }]);
  });

  it('indexes Provenance.target for _revinclude and only Patient targets for patient', () => {
    const rows = extract({
      resourceType: 'Provenance',
      target: [{ reference: 'Patient/1' }, { reference: 'Observation/2/_history/3' }, { reference: 'urn:uuid:0b8a5c4e-7b52-4b0c-9d36-5f1c1f1f9a11', type: 'Patient' }],
      recorded: '2020-01-01T00:00:00Z',
      agent: [{ who: { reference: 'Practitioner/5' } }],
    });
    expect(rowsOf(rows, 'reference', 'target').map((r) => [r.target_type, r.target_id, r.target_version, r.url])).toEqual([
      ['Patient', '1', null, null],
      ['Observation', '2', '3', null],
      ['Patient', null, null, 'urn:uuid:0b8a5c4e-7b52-4b0c-9d36-5f1c1f1f9a11'],
    ]);
    expect(rowsOf(rows, 'reference', 'patient').map((r) => r.target_id)).toEqual(['1', null]);
    expect(rowsOf(rows, 'reference', 'agent').map((r) => r.target_id)).toEqual(['5']);
  });

  it('indexes canonicals with their version split off', () => {
    const rows = extract({ resourceType: 'CarePlan', instantiatesCanonical: ['http://example.org/fhir/PlanDefinition/p|2.0'] });
    expect(rowsOf(rows, 'reference', 'instantiates-canonical')).toEqual([
      { target_type: null, target_id: null, target_version: '2.0', url: 'http://example.org/fhir/PlanDefinition/p' },
    ]);
  });

  it('stores no rows for _id and _lastUpdated, and de-duplicates repeats', () => {
    const rows = extract({
      resourceType: 'Claim',
      id: 'c1',
      meta: { lastUpdated: '2020-01-01T00:00:00Z' },
      item: [{ sequence: 1, encounter: [{ reference: 'Encounter/e1' }] }, { sequence: 2, encounter: [{ reference: 'Encounter/e1' }] }],
    });
    const codes = Object.values(rows).flat().map((r: { code: string }) => r.code);
    expect(codes).not.toContain('_id');
    expect(codes).not.toContain('_lastUpdated');
    expect(rowsOf(rows, 'reference', 'encounter')).toHaveLength(1);
  });

  it('de-duplicates long lists too (a Provenance naming a whole transaction)', () => {
    const target = Array.from({ length: 60 }, (_, i) => ({ reference: `Observation/o${i % 25}/_history/${i < 50 ? 1 : 2}` }));
    const rows = extract({ resourceType: 'Provenance', id: 'v1', recorded: '2020-01-01T00:00:00Z', agent: [], target });
    const refs = rowsOf(rows, 'reference', 'target') as { target_id: string; target_version: string }[];
    // o0..o24 at version 1 (twice each in the first 50), o0..o9 at version 2: 35 distinct.
    expect(refs).toHaveLength(35);
    expect(new Set(refs.map((r) => `${r.target_id}/${r.target_version}`)).size).toBe(35);
  });
});

describe('extractIndexRows — composites', () => {
  const coded = (code: string) => ({ coding: [{ system: 'http://loinc.org', code }] });

  it('numbers the items and writes each component under <code>$<n>', () => {
    const rows = extract({
      resourceType: 'Observation',
      code: { coding: [{ system: 'http://loinc.org', code: '85354-9', display: 'BP' }] },
      component: [
        { code: coded('8480-6'), valueQuantity: { value: 120, system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
        { code: { text: 'no value: no item' } },
        { code: coded('8462-4'), valueQuantity: { value: 80 } },
      ],
    });
    expect(rowsOf(rows, 'token', 'component-code-value-quantity$0')).toEqual([
      { system: 'http://loinc.org', value: '8480-6', item: 0 },
      { system: 'http://loinc.org', value: '8462-4', item: 1 },
    ]);
    expect(rowsOf(rows, 'quantity', 'component-code-value-quantity$1').map((r) => [r.value, r.item])).toEqual([[120, 0], [80, 1]]);
    // The panel has no value of its own: no code-value-quantity item, and no :text rows for components.
    expect(rowsOf(rows, 'token', 'code-value-quantity$0')).toEqual([]);
    expect(rows.token.filter((r) => r.code.includes('$') && r.code.includes(':'))).toEqual([]);
    // Ordinary rows carry no item.
    expect(rowsOf(rows, 'token', 'component-code').every((r) => r.item === undefined)).toBe(true);
  });

  it('evaluates %resource on the resource, and swaps the R4 relationship components back', () => {
    const seq = extract({
      resourceType: 'MolecularSequence', coordinateSystem: 0, referenceSeq: { chromosome: { coding: [{ code: '1' }] } },
      variant: [{ start: 10, end: 15 }, { start: 100 }],
    });
    expect(rowsOf(seq, 'token', 'chromosome-variant-coordinate$0')).toEqual([{ system: null, value: '1', item: 0 }]);
    expect(rowsOf(seq, 'number', 'chromosome-variant-coordinate$2').map((r) => r.value)).toEqual([15]);
    const doc = extract({ resourceType: 'DocumentReference', relatesTo: [{ code: 'replaces', target: { reference: 'DocumentReference/d1' } }] });
    expect(rowsOf(doc, 'reference', 'relationship$0')).toEqual([{ target_type: 'DocumentReference', target_id: 'd1', target_version: null, url: null, item: 0 }]);
    expect(rowsOf(doc, 'token', 'relationship$1')).toEqual([{ system: null, value: 'replaces', item: 0 }]);
  });
});

describe('de-duplication of a parameter\'s rows', () => {
  const rows = (n: number, make: (i: number) => object) => Array.from({ length: n }, (_, i) => make(i));

  it.each([4, 40])('keeps one of each row among %i, telling 1 from "1" and an undefined field from a missing one', (n) => {
    const list: object[] = [{ code: 'before', value: 'x' }];
    list.push(...rows(n, (i) => ({ code: 'name', value: `v${i % 3}`, system: undefined })));
    list.push({ code: 'name', value: 1 }, { code: 'name', value: '1' }, { code: 'name', value: 1 });
    dedupeFrom(list, 1);
    expect(list).toEqual([
      { code: 'before', value: 'x' },
      { code: 'name', value: 'v0', system: undefined },
      { code: 'name', value: 'v1', system: undefined },
      { code: 'name', value: 'v2', system: undefined },
      { code: 'name', value: 1 },
      { code: 'name', value: '1' },
    ]);
  });

  it('indexes a Patient with 20,000 names once per distinct value', () => {
    const name = Array.from({ length: 20_000 }, (_, i) => ({ family: `F${i % 100}` }));
    const family = extractIndexRows({ resourceType: 'Patient', name } as { resourceType: string }).string.filter((r) => r.code === 'family');
    expect(family).toHaveLength(100);
  });
});
