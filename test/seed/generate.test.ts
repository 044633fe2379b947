import { beforeAll, describe, expect, it } from '@jest/globals';
import type { DiagnosticReport, Group, Observation, Provenance, Resource } from 'fhir/r4';
import { generateSeed, type SeedBatch } from '../../server/seed/index.js';

const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const REFERENCE_DATE = '2026-01-01';

function run(patients: number, seed: number): SeedBatch[] {
  return [...generateSeed({ patients, seed })];
}

/** Every `reference` string anywhere inside a resource. */
function referencesOf(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) referencesOf(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') out.push(v);
      else referencesOf(v, out);
    }
  }
  return out;
}

const key = (r: Resource) => `${r.resourceType}/${r.id}`;
const codeOf = (o: Observation) => o.code.coding?.[0]?.code;
const categoryOf = (o: Observation) => o.category?.[0]?.coding?.[0]?.code;

describe('generateSeed', () => {
  let batches: SeedBatch[];
  let shared: SeedBatch;
  let patients: SeedBatch[];
  let all: Resource[];
  beforeAll(() => {
    batches = run(12, 42);
    shared = batches[0]!;
    patients = batches.slice(1, -1);
    all = batches.flatMap((b) => b.resources);
  });

  it('is deterministic for a seed and differs between seeds', () => {
    expect(JSON.stringify(run(12, 42))).toBe(JSON.stringify(batches));
    const other = run(12, 43);
    expect(JSON.stringify(other[1])).not.toBe(JSON.stringify(batches[1]));
    expect(other[1]!.resources[0]!.id).not.toBe(batches[1]!.resources[0]!.id);
  });

  it('yields a shared batch, one batch per patient, then the Group', () => {
    expect(batches).toHaveLength(12 + 2);
    expect(shared.label).toBe('shared');
    const sharedTypes = new Set(shared.resources.map((r) => r.resourceType));
    expect(sharedTypes).toEqual(new Set(['Organization', 'Practitioner', 'PractitionerRole']));
    patients.forEach((b, i) => {
      expect(b.label).toBe(`patient-${i + 1}`);
      expect(b.resources[0]!.resourceType).toBe('Patient');
      expect(b.resources.at(-1)!.resourceType).toBe('Provenance');
      expect(b.resources.filter((r) => r.resourceType === 'Patient')).toHaveLength(1);
    });
    expect(batches.at(-1)!.label).toBe('group');
    expect(batches.at(-1)!.resources.map((r) => r.resourceType)).toEqual(['Group']);
  });

  it('produces a few hundred resources per patient, mostly Observations', () => {
    const perPatient = patients.reduce((n, b) => n + b.resources.length, 0) / patients.length;
    expect(perPatient).toBeGreaterThan(150);
    expect(perPatient).toBeLessThan(1200);
    const observations = all.filter((r) => r.resourceType === 'Observation').length;
    expect(observations / all.length).toBeGreaterThan(0.6);
    const types = new Set(all.map((r) => r.resourceType));
    for (const t of ['Encounter', 'Condition', 'MedicationRequest', 'Immunization', 'Procedure', 'DiagnosticReport', 'AllergyIntolerance']) {
      expect(types).toContain(t);
    }
  });

  it('assigns valid, unique FHIR ids to every resource', () => {
    const ids = all.map((r) => r.id);
    for (const id of ids) expect(id).toMatch(FHIR_ID);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('resolves every reference within its own batch or the shared batch', () => {
    const sharedKeys = new Set(shared.resources.map(key));
    for (const b of patients) {
      const known = new Set([...sharedKeys, ...b.resources.map(key)]);
      for (const ref of b.resources.flatMap((r) => referencesOf(r))) {
        expect(ref).toMatch(/^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/);
        expect(known.has(ref) ? ref : `unresolved ${ref} in ${b.label}`).toBe(ref);
      }
    }
    for (const ref of shared.resources.flatMap((r) => referencesOf(r))) expect(sharedKeys).toContain(ref);
  });

  it('ties every clinical resource to its Patient, and encounter-bound ones to an Encounter', () => {
    for (const b of patients) {
      const patientRef = key(b.resources[0]!);
      for (const r of b.resources.slice(1, -1)) {
        const x = r as { subject?: { reference?: string }; patient?: { reference?: string }; encounter?: unknown };
        expect(x.subject?.reference ?? x.patient?.reference).toBe(patientRef);
        if (r.resourceType !== 'Encounter') expect(x.encounter).toBeDefined();
      }
    }
  });

  it('closes each patient batch with a Provenance over every other resource of the batch', () => {
    for (const b of patients) {
      const prov = b.resources.at(-1) as Provenance;
      expect(prov.target.map((t) => t.reference)).toEqual(b.resources.slice(0, -1).map(key));
      expect(prov.recorded).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      const agent = prov.agent[0]!;
      expect(agent.type?.coding?.[0]).toMatchObject({ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author' });
      expect(agent.who.reference).toMatch(/^(Organization|Practitioner)\//);
    }
  });

  it('records vital signs with LOINC codes, UCUM units and the vital-signs category', () => {
    const obs = all.filter((r): r is Observation => r.resourceType === 'Observation');
    const units: Record<string, string> = {
      '8867-4': '/min', '29463-7': 'kg', '8302-2': 'cm', '39156-5': 'kg/m2', '8310-5': 'Cel', '9279-1': '/min', '2708-6': '%',
    };
    for (const [code, unit] of Object.entries(units)) {
      const found = obs.filter((o) => codeOf(o) === code);
      expect(found.length).toBeGreaterThan(0);
      for (const o of found) {
        expect(o.code.coding?.[0]?.system).toBe(LOINC);
        expect(o.valueQuantity).toMatchObject({ system: UCUM, code: unit });
        expect(o.category?.[0]?.coding?.[0]).toMatchObject({ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' });
      }
    }
    const bp = obs.filter((o) => codeOf(o) === '85354-9');
    expect(bp.length).toBeGreaterThan(0);
    for (const o of bp) {
      expect(o.valueQuantity).toBeUndefined();
      expect(o.component?.map((c) => c.code.coding?.[0]?.code)).toEqual(['8480-6', '8462-4']);
      for (const c of o.component ?? []) expect(c.valueQuantity).toMatchObject({ system: UCUM, code: 'mm[Hg]' });
    }
  });

  it('records labs, social history and surveys with their categories', () => {
    const obs = all.filter((r): r is Observation => r.resourceType === 'Observation');
    for (const [code, unit] of [['2339-0', 'mg/dL'], ['2093-3', 'mg/dL'], ['4548-4', '%'], ['718-7', 'g/dL'], ['2160-0', 'mg/dL']]) {
      const found = obs.filter((o) => codeOf(o) === code);
      expect(found.length).toBeGreaterThan(0);
      for (const o of found) {
        expect(categoryOf(o)).toBe('laboratory');
        expect(o.valueQuantity).toMatchObject({ system: UCUM, code: unit });
      }
    }
    const smoking = obs.filter((o) => codeOf(o) === '72166-2');
    expect(smoking.length).toBeGreaterThan(0);
    for (const o of smoking) {
      expect(categoryOf(o)).toBe('social-history');
      expect(o.valueCodeableConcept?.coding?.[0]?.system).toBe('http://snomed.info/sct');
    }
    expect(obs.some((o) => categoryOf(o) === 'survey')).toBe(true);
  });

  it('lists lab Observations of the same patient as DiagnosticReport results', () => {
    const byKey = new Map(all.map((r) => [key(r), r]));
    const reports = all.filter((r): r is DiagnosticReport => r.resourceType === 'DiagnosticReport');
    expect(reports.length).toBeGreaterThan(0);
    for (const report of reports) {
      expect(report.category?.[0]?.coding?.[0]).toMatchObject({ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'LAB' });
      expect(report.result?.length).toBeGreaterThan(0);
      for (const res of report.result ?? []) {
        const o = byKey.get(res.reference!) as Observation;
        expect(categoryOf(o)).toBe('laboratory');
        expect(o.subject?.reference).toBe(report.subject?.reference);
      }
    }
  });

  it('dates everything before the fixed reference date', () => {
    const dates = JSON.stringify(all).match(/"\d{4}-\d\d-\d\d(T[^"]*)?"/g) ?? [];
    expect(dates.length).toBeGreaterThan(0);
    for (const d of dates) expect(d.slice(1, 11) < REFERENCE_DATE).toBe(true);
  });

  it('ends with a Group (person, actual) of every generated patient', () => {
    const group = batches.at(-1)!.resources[0] as Group;
    expect(group).toMatchObject({ type: 'person', actual: true, quantity: 12 });
    expect(group.member?.map((m) => m.entity.reference)).toEqual(patients.map((b) => key(b.resources[0]!)));
  });

  it('is prefix-stable: the first patients do not depend on the patient count', () => {
    const small = run(10, 42);
    const large = run(100, 42);
    expect(JSON.stringify(large.slice(0, 11))).toBe(JSON.stringify(small.slice(0, 11)));
    expect(JSON.stringify(small.slice(0, 11))).toBe(JSON.stringify(batches.slice(0, 11)));
    const group = large.at(-1)!.resources[0] as Group;
    expect(group.member).toHaveLength(100);
  });

  it('generates lazily, so a huge run can be started without building it all', () => {
    const it = generateSeed({ patients: 100_000, seed: 7 })[Symbol.iterator]();
    expect(it.next().value?.label).toBe('shared');
    expect(it.next().value?.label).toBe('patient-1');
  });

  it('rejects unusable options', () => {
    expect(() => run(-1, 1)).toThrow(RangeError);
    expect(() => run(1.5, 1)).toThrow(RangeError);
    expect(() => run(1, Number.NaN)).toThrow(RangeError);
  });
});
