import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { engines } from '../helpers/db.js';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { failing, ids, putAll, searchBundle, type Res } from './query-fixtures.js';

/**
 * Search by parameter type, through HTTP, with the cases of
 * https://hl7.org/fhir/R4/search.html: token, string, reference, date, number,
 * quantity, uri, `_id`, `_lastUpdated`, and the modifiers of each.
 */

const UCUM = 'http://unitsofmeasure.org';
const LOINC = 'http://loinc.org';
const MRN = 'http://example.org/mrn';

const patients: Res[] = [
  {
    resourceType: 'Patient', id: 'pt-ada', active: true, gender: 'female', birthDate: '1815-12-10',
    name: [{ family: 'Lovelace', given: ['Ada', 'Augusta'] }],
    identifier: [{ system: MRN, value: 'M1' }, { system: 'http://example.org/odd', value: 'a,b|c' }],
    address: [{ city: 'São Paulo' }],
  },
  {
    resourceType: 'Patient', id: 'pt-jose', gender: 'male', birthDate: '1970-05',
    name: [{ family: 'Núñez', given: ['José'] }],
    identifier: [{ value: 'NOSYS' }, { type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] }, system: MRN, value: 'M2' }],
    address: [{ city: 'Zürich' }],
  },
  {
    resourceType: 'Patient', id: 'pt-grace', gender: 'female', birthDate: '1906-12-09',
    name: [{ family: 'Hopper', given: ['Grace'] }], generalPractitioner: [{ reference: 'Practitioner/pr-1' }],
  },
  { resourceType: 'Patient', id: 'pt-anon' },
];

function observations(base: string): Res[] {
  const obs = (id: string, extra: Record<string, unknown>): Res => ({ resourceType: 'Observation', id, status: 'final', code: { text: id }, ...extra });
  return [
    obs('obs-glucose', {
      code: { coding: [{ system: LOINC, code: '2339-0', display: 'Glucose' }], text: 'Blood glucose' },
      subject: { reference: 'Patient/pt-ada' }, effectiveDateTime: '2020-03-04T10:00:00+01:00',
      valueQuantity: { value: 5.4, system: UCUM, code: 'mmol/L', unit: 'mmol/L' },
    }),
    obs('obs-glucose2', {
      status: 'preliminary', code: { coding: [{ system: LOINC, code: '2339-0' }] }, subject: { reference: 'Patient/pt-jose' },
      effectivePeriod: { start: '2020-03-01', end: '2020-03-31' }, valueQuantity: { value: 5.35, system: UCUM, code: 'mg/dL' },
    }),
    obs('obs-hr', {
      code: { coding: [{ system: LOINC, code: '8867-4' }, { system: 'http://acme.org/codes', code: 'HR' }] },
      subject: { reference: 'Patient/pt-grace' }, effectiveDateTime: '2021', valueQuantity: { value: 72, system: UCUM, code: '/min', unit: 'beats/minute' },
    }),
    obs('obs-nosys', { status: 'amended', code: { coding: [{ code: 'local-1' }] }, subject: { reference: 'Patient/pt-ada/_history/1' }, valueQuantity: { value: 5.45 } }),
    obs('obs-abs', { subject: { reference: `${base}/Patient/pt-jose` }, valueQuantity: { value: 3, comparator: '<', system: UCUM, code: 'mmol/L' } }),
    obs('obs-foreign', { subject: { reference: 'http://other.example/fhir/Patient/pt-ada' } }),
    obs('obs-ident', { subject: { identifier: { system: MRN, value: 'M9' } } }),
  ];
}

const others: Res[] = [
  { resourceType: 'Practitioner', id: 'pr-1', name: [{ family: 'Smith' }] },
  { resourceType: 'RiskAssessment', id: 'ra-1', status: 'final', subject: { reference: 'Patient/pt-ada' }, prediction: [{ probabilityDecimal: 0.35 }] },
  { resourceType: 'RiskAssessment', id: 'ra-2', status: 'final', subject: { reference: 'Patient/pt-ada' }, prediction: [{ probabilityDecimal: 0.4 }] },
  { resourceType: 'RiskAssessment', id: 'ra-3', status: 'final', subject: { reference: 'Patient/pt-ada' }, prediction: [{ probabilityDecimal: 100 }] },
  { resourceType: 'ValueSet', id: 'vs-1', status: 'active', url: 'http://acme.org/fhir/ValueSet/123' },
  { resourceType: 'ValueSet', id: 'vs-2', status: 'active', url: 'http://acme.org/fhir/ValueSet/124' },
  { resourceType: 'ValueSet', id: 'vs-3', status: 'active', url: 'http://other.org/vs' },
];

describe.each(engines())('search by parameter type on %s', (engine) => {
  let t: TestApp;
  const q = (query: string) => ids(t, query);
  beforeAll(async () => {
    t = await startTestApp(engine);
    await putAll(t, [...patients, ...observations(t.base), ...others, { resourceType: 'Patient', id: 'pt-gone', name: [{ family: 'Lovelace' }] }]);
    expect((await fhirFetch(t, 'Patient/pt-gone', { method: 'DELETE' })).status).toBe(200);
  });
  afterAll(() => t.stop());

  describe('token', () => {
    it('matches code, system|code, |code and system|', async () => {
      expect(await q('Patient?gender=female')).toEqual(['pt-ada', 'pt-grace']);
      expect(await q(`Patient?identifier=${MRN}|M1`)).toEqual(['pt-ada']);
      expect(await q('Patient?identifier=M1')).toEqual(['pt-ada']);
      expect(await q('Patient?identifier=|NOSYS')).toEqual(['pt-jose']);
      expect(await q('Patient?identifier=|M1')).toEqual([]);
      expect(await q(`Patient?identifier=${MRN}|`)).toEqual(['pt-ada', 'pt-jose']);
      expect(await q('Patient?active=true')).toEqual(['pt-ada']);
    });

    it('is exact and case-sensitive on codes, and matches within one coding only', async () => {
      expect(await q('Patient?gender=Female')).toEqual([]);
      expect(await q(`Observation?code=${LOINC}|2339-0`)).toEqual(['obs-glucose', 'obs-glucose2']);
      expect(await q('Observation?code=HR')).toEqual(['obs-hr']);
      expect(await q('Observation?code=http://acme.org/codes|HR')).toEqual(['obs-hr']);
      expect(await q(`Observation?code=${LOINC}|HR`)).toEqual([]);
      expect(await q('Observation?code=local-1')).toEqual(['obs-nosys']);
      expect(await q('Observation?code=|local-1')).toEqual(['obs-nosys']);
    });

    it('reads escaped commas and bars as literal characters', async () => {
      expect(await q('Patient?identifier=http://example.org/odd|a\\,b\\|c')).toEqual(['pt-ada']);
      expect(await q(`Patient?identifier=${encodeURIComponent('a\\,b\\|c')}`)).toEqual(['pt-ada']);
      // Unescaped, the comma is an OR of two values that match nothing.
      expect(await q('Patient?identifier=a,b')).toEqual([]);
    });

    it('ORs comma-separated values and ANDs repeated parameters', async () => {
      expect(await q('Patient?identifier=M1,M2')).toEqual(['pt-ada', 'pt-jose']);
      expect(await q('Patient?identifier=M1,M2&gender=male')).toEqual(['pt-jose']);
      expect(await q('Patient?identifier=M1&identifier=M2')).toEqual([]);
      expect(await q('Patient?given=ada&given=augusta')).toEqual(['pt-ada']);
    });

    it(':text, :of-type and :not', async () => {
      expect(await q('Observation?code:text=blood')).toEqual(['obs-glucose']);
      expect(await q('Observation?code:text=GLUC')).toEqual(['obs-glucose']);
      expect(await q('Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|M2')).toEqual(['pt-jose']);
      expect(await q('Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|M1')).toEqual([]);
      expect(await q('Observation?status:not=final')).toEqual(['obs-glucose2', 'obs-nosys']);
      expect(await q('Patient?gender:not=female')).toEqual(['pt-anon', 'pt-jose']);
    });

    it(':missing=true and :missing=false', async () => {
      expect(await q('Patient?gender:missing=true')).toEqual(['pt-anon']);
      expect(await q('Patient?birthdate:missing=false')).toEqual(['pt-ada', 'pt-grace', 'pt-jose']);
      expect(await q('Patient?general-practitioner:missing=false')).toEqual(['pt-grace']);
      expect(await q('Observation?subject:missing=true')).toEqual([]);
    });
  });

  describe('string', () => {
    it('starts-with, ignoring case and accents, on every part of a name', async () => {
      expect(await q('Patient?name=nun')).toEqual(['pt-jose']);
      expect(await q(`Patient?name=${encodeURIComponent('NÚÑ')}`)).toEqual(['pt-jose']);
      expect(await q('Patient?name=aug')).toEqual(['pt-ada']);
      expect(await q('Patient?family=love')).toEqual(['pt-ada']);
      expect(await q('Patient?address-city=sao')).toEqual(['pt-ada']);
      expect(await q('Patient?address-city=zur')).toEqual(['pt-jose']);
      expect(await q('Patient?name=ove')).toEqual([]);
    });

    it(':exact and :contains', async () => {
      expect(await q(`Patient?family:exact=${encodeURIComponent('Núñez')}`)).toEqual(['pt-jose']);
      expect(await q('Patient?family:exact=nunez')).toEqual([]);
      expect(await q('Patient?family:exact=Love')).toEqual([]);
      expect(await q('Patient?name:contains=ove')).toEqual(['pt-ada']);
      expect(await q('Patient?name:contains=%25')).toEqual([]);
      expect(await q('Patient?name:contains=_')).toEqual([]);
    });

    it('takes a prefix-looking value literally', async () => {
      expect(await q('Patient?name=gt5')).toEqual([]);
    });
  });

  describe('reference', () => {
    it('matches Type/id, a bare id and the :Type modifier; versioned references too', async () => {
      const ada = ['obs-glucose', 'obs-nosys'];
      expect(await q('Observation?subject=Patient/pt-ada')).toEqual(ada);
      expect(await q('Observation?subject=pt-ada')).toEqual(ada);
      expect(await q('Observation?patient=pt-ada')).toEqual(ada);
      expect(await q('Observation?subject:Patient=pt-ada')).toEqual(ada);
      expect(await q('Observation?subject=Patient/pt-ada/_history/1')).toEqual(['obs-nosys']);
    });

    it('treats absolute URLs on this base as local, and others as themselves', async () => {
      const jose = ['obs-abs', 'obs-glucose2'];
      expect(await q('Observation?subject=Patient/pt-jose')).toEqual(jose);
      expect(await q(`Observation?subject=${encodeURIComponent(`${t.base}/Patient/pt-jose`)}`)).toEqual(jose);
      expect(await q(`Observation?subject=${encodeURIComponent('http://other.example/fhir/Patient/pt-ada')}`)).toEqual(['obs-foreign']);
    });

    it(':identifier searches Reference.identifier', async () => {
      expect(await q(`Observation?subject:identifier=${MRN}|M9`)).toEqual(['obs-ident']);
      expect(await q('Observation?subject:identifier=M9')).toEqual(['obs-ident']);
    });

    it('refuses a type the parameter cannot refer to', async () => {
      expect((await failing(t, 'Observation?subject:Medication=1')).status).toBe(400);
      expect((await failing(t, 'Observation?subject=Medication/1')).status).toBe(400);
      expect((await failing(t, 'Observation?subject=Patient/')).status).toBe(400);
    });
  });

  describe('date', () => {
    it('compares partial dates as the ranges they cover', async () => {
      expect(await q('Patient?birthdate=1970')).toEqual(['pt-jose']);
      expect(await q('Patient?birthdate=1970-05')).toEqual(['pt-jose']);
      // The stored value is the whole of May: a single day cannot contain it.
      expect(await q('Patient?birthdate=1970-05-10')).toEqual([]);
      expect(await q('Patient?birthdate=ge1970-05-10')).toEqual(['pt-jose']);
      expect(await q('Patient?birthdate=1815-12-10')).toEqual(['pt-ada']);
    });

    it('applies every prefix per search.html#prefix', async () => {
      expect(await q('Patient?birthdate=lt1907')).toEqual(['pt-ada', 'pt-grace']);
      expect(await q('Patient?birthdate=le1906-12-09')).toEqual(['pt-ada', 'pt-grace']);
      expect(await q('Patient?birthdate=gt1906-12-09')).toEqual(['pt-jose']);
      expect(await q('Patient?birthdate=ge1906-12-09')).toEqual(['pt-grace', 'pt-jose']);
      expect(await q('Patient?birthdate=sa1900')).toEqual(['pt-grace', 'pt-jose']);
      expect(await q('Patient?birthdate=eb1900')).toEqual(['pt-ada']);
      expect(await q('Patient?birthdate=ne1970')).toEqual(['pt-ada', 'pt-grace']);
      expect(await q('Patient?birthdate=ap1970-05-15')).toEqual(['pt-jose']);
      expect(await q('Patient?birthdate=gt1800&birthdate=lt1900')).toEqual(['pt-ada']);
    });

    it('compares periods and instants with time zones', async () => {
      expect(await q('Observation?date=2020-03')).toEqual(['obs-glucose', 'obs-glucose2']);
      expect(await q('Observation?date=2020-03-04')).toEqual(['obs-glucose']);
      expect(await q('Observation?date=2020-03-04T09:00:00Z')).toEqual(['obs-glucose']);
      expect(await q(`Observation?date=${encodeURIComponent('2020-03-04T10:00:00+01:00')}`)).toEqual(['obs-glucose']);
      expect(await q('Observation?date=2020-03-04T08:00:00-01:00')).toEqual(['obs-glucose']);
      // An unencoded "+" arrives as a space; it is read back as the offset it was.
      expect(await q('Observation?date=2020-03-04T10:00:00+01:00')).toEqual(['obs-glucose']);
      expect(await q('Observation?date=2020-03-04T10:00:00Z')).toEqual([]);
      expect(await q('Observation?date=2020-03-04T09:00Z')).toEqual(['obs-glucose']);
      expect(await q('Observation?date=gt2020-03-15')).toEqual(['obs-glucose2', 'obs-hr']);
      expect(await q('Observation?date=lt2020-03-02')).toEqual(['obs-glucose2']);
      expect(await q('Observation?date=2021')).toEqual(['obs-hr']);
    });

    it('reads a leap second (23:59:60, a valid R4 dateTime) as stored values are indexed: the next second', async () => {
      await putAll(t, [{ resourceType: 'Observation', id: 'obs-leap', status: 'final', code: { text: 'leap' }, effectiveDateTime: '2016-12-31T23:59:60Z' }]);
      try {
        expect(await q('Observation?_id=obs-leap&date=2016-12-31T23:59:60Z')).toEqual(['obs-leap']);
        expect(await q('Observation?_id=obs-leap&date=2017-01-01T00:00:00Z')).toEqual(['obs-leap']);
        expect(await q('Observation?_id=obs-leap&date=2016-12-31T23:59:59Z')).toEqual([]);
        expect((await failing(t, 'Observation?date=2016-12-31T23:59:61Z')).status).toBe(400);
      } finally {
        await fhirFetch(t, 'Observation/obs-leap', { method: 'DELETE' });
      }
    });

    it('refuses dates that are not dates', async () => {
      for (const bad of ['2020-13', '2020-02-30', 'yesterday', '2020-03-04T25:00Z', '2020-03-04T10', 'gt', '20201']) {
        const res = await failing(t, `Observation?date=${bad}`);
        expect([bad, res.status]).toEqual([bad, 400]);
        expect(res.expression).toContain('date');
      }
    });
  });

  describe('number and quantity', () => {
    it('uses the precision of the search value (5.4 is 5.35..5.45)', async () => {
      expect(await q('Observation?value-quantity=5.4')).toEqual(['obs-glucose', 'obs-glucose2']);
      expect(await q('Observation?value-quantity=eq5.4')).toEqual(['obs-glucose', 'obs-glucose2']);
      expect(await q('Observation?value-quantity=5.40')).toEqual(['obs-glucose']);
      expect(await q('Observation?value-quantity=5.45')).toEqual(['obs-nosys']);
      expect(await q('RiskAssessment?probability=0.4')).toEqual(['ra-1', 'ra-2']);
      expect(await q('RiskAssessment?probability=0.40')).toEqual(['ra-2']);
      expect(await q('RiskAssessment?probability=1e2')).toEqual(['ra-3']);
      expect(await q('RiskAssessment?probability=100.4')).toEqual([]);
    });

    it('compares exactly with gt/lt/ge/le and treats comparators as open ranges', async () => {
      expect(await q('Observation?value-quantity=gt70')).toEqual(['obs-hr']);
      expect(await q('Observation?value-quantity=lt5.4')).toEqual(['obs-abs', 'obs-glucose2']);
      expect(await q('Observation?value-quantity=le5.4')).toEqual(['obs-abs', 'obs-glucose', 'obs-glucose2']);
      expect(await q('Observation?value-quantity=ge5.45')).toEqual(['obs-hr', 'obs-nosys']);
      expect(await q('Observation?value-quantity=2')).toEqual([]);
      expect(await q('Observation?value-quantity=ne5.4')).toEqual(['obs-abs', 'obs-hr', 'obs-nosys']);
      expect(await q('Observation?value-quantity=ap70')).toEqual(['obs-hr']);
      expect(await q('RiskAssessment?probability=gt0.35')).toEqual(['ra-2', 'ra-3']);
      expect(await q('RiskAssessment?probability=sa0.35&probability=eb50')).toEqual(['ra-2']);
    });

    it('matches units as system|code, ||code (code or unit) or not at all', async () => {
      expect(await q(`Observation?value-quantity=5.4|${UCUM}|mmol/L`)).toEqual(['obs-glucose']);
      expect(await q('Observation?value-quantity=5.4||mg/dL')).toEqual(['obs-glucose2']);
      expect(await q('Observation?value-quantity=72||beats/minute')).toEqual(['obs-hr']);
      expect(await q(`Observation?value-quantity=lt10|${UCUM}|mmol/L`)).toEqual(['obs-abs', 'obs-glucose']);
    });

    it('refuses values that are not numbers', async () => {
      for (const bad of ['abc', 'gt', '5.4|a', '5.4|a|b|c', '1e99999', '--1', 'xx5']) {
        const res = await failing(t, `Observation?value-quantity=${encodeURIComponent(bad)}`);
        expect([bad, res.status]).toEqual([bad, 400]);
      }
    });
  });

  describe('uri', () => {
    it('matches exactly, :below and :above', async () => {
      expect(await q('ValueSet?url=http://acme.org/fhir/ValueSet/123')).toEqual(['vs-1']);
      expect(await q('ValueSet?url=http://acme.org/fhir/ValueSet/12')).toEqual([]);
      expect(await q('ValueSet?url:below=http://acme.org/fhir/')).toEqual(['vs-1', 'vs-2']);
      expect(await q('ValueSet?url:above=http://acme.org/fhir/ValueSet/123/_history/5')).toEqual(['vs-1']);
    });
  });

  describe('_id and _lastUpdated', () => {
    it('_id matches ids and never a deleted resource', async () => {
      expect(await q('Patient?_id=pt-ada,pt-jose')).toEqual(['pt-ada', 'pt-jose']);
      expect(await q('Patient?_id=pt-gone')).toEqual([]);
      expect(await q('Patient?family=lovelace')).toEqual(['pt-ada']);
    });

    it('_lastUpdated compares the stored instant', async () => {
      const year = new Date().getUTCFullYear();
      expect(await q(`Patient?_lastUpdated=${year}`)).toEqual(['pt-ada', 'pt-anon', 'pt-grace', 'pt-jose']);
      expect(await q('Patient?_lastUpdated=lt2000')).toEqual([]);
      const ada = await fhirFetch(t, 'Patient/pt-ada');
      const at = ada.body.meta.lastUpdated as string;
      expect(await q(`Patient?_id=pt-ada&_lastUpdated=${encodeURIComponent(at)}`)).toEqual(['pt-ada']);
      expect(await q(`Patient?_id=pt-ada&_lastUpdated=gt${encodeURIComponent(at)}`)).toEqual([]);
    });
  });

  describe('strict and lenient handling', () => {
    it('refuses an unknown parameter or modifier by name, unless lenient', async () => {
      const unknown = await failing(t, 'Patient?foo=bar&name=ada');
      expect(unknown.status).toBe(400);
      expect(unknown.expression).toEqual(['foo']);
      const modifier = await failing(t, 'Patient?name:fuzzy=ada');
      expect(modifier.status).toBe(400);
      expect(modifier.expression).toEqual(['name:fuzzy']);

      const lenient = { prefer: 'handling=lenient' };
      const bundle = await searchBundle(t, 'Patient?foo=bar&name=ada&birthdate=notadate', lenient);
      const entries = bundle.entry ?? [];
      expect(entries.filter((e) => e.search?.mode === 'match').map((e) => e.resource.id)).toEqual(['pt-ada']);
      const outcome = entries.find((e) => e.search?.mode === 'outcome')?.resource as unknown as { issue: { severity: string; expression: string[] }[] };
      expect(outcome.issue.map((i) => i.expression[0]).sort()).toEqual(['birthdate', 'foo']);
      expect(outcome.issue.every((i) => i.severity === 'warning')).toBe(true);
      const self = bundle.link.find((l) => l.relation === 'self')?.url as string;
      expect(self).toContain('name=ada');
      expect(self).not.toContain('foo');
      expect(self).not.toContain('birthdate');
    });

    it('ignores empty values', async () => {
      expect(await q('Patient?name=&gender=male')).toEqual(['pt-jose']);
    });
  });
});
