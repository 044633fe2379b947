import { afterAll } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SearchParameter } from 'fhir/r4';
import type { Res } from './query-fixtures.js';

/**
 * Data and definition changes of the reindex suites: patients stored under the shipped
 * definitions, then a custom parameter (`marital-status`), a changed shipped one
 * (`Patient.organization`, now also following `generalPractitioner`) and a custom
 * parameter of a type that holds no resources (`Basic.custom-created`).
 */

const MARITAL = 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus';
const marital = (code: string) => ({ coding: [{ system: MARITAL, code }] });
const ref = (reference: string) => ({ reference });

export const DATA: Res[] = [
  { resourceType: 'Organization', id: 'o1', name: 'One' },
  { resourceType: 'Organization', id: 'o2', name: 'Two' },
  { resourceType: 'Patient', id: 'p1', gender: 'female', maritalStatus: marital('M'), managingOrganization: ref('Organization/o1') },
  { resourceType: 'Patient', id: 'p2', gender: 'male', maritalStatus: marital('S'), managingOrganization: ref('Organization/o1') },
  { resourceType: 'Patient', id: 'p3', gender: 'female', maritalStatus: marital('M'), generalPractitioner: [ref('Organization/o2')] },
  { resourceType: 'Patient', id: 'p4', gender: 'male', maritalStatus: marital('M') },
  { resourceType: 'Patient', id: 'p5', gender: 'female' },
  { resourceType: 'Observation', id: 'obs1', status: 'final', code: { text: 'x' }, subject: ref('Patient/p1') },
  { resourceType: 'Observation', id: 'obs3', status: 'final', code: { text: 'x' }, subject: ref('Patient/p3') },
];

/** A patient written while the index is rebuilt. */
export const LATE: Res = { resourceType: 'Patient', id: 'p6', gender: 'male', maritalStatus: marital('M'), generalPractitioner: [ref('Organization/o2')] };

function searchParameter(sp: Omit<SearchParameter, 'resourceType' | 'status' | 'name' | 'description'> & Partial<SearchParameter>): SearchParameter {
  return { resourceType: 'SearchParameter', status: 'active', name: sp.code, description: `${sp.code} (test)`, ...sp };
}

export const CHANGED_DEFINITIONS: SearchParameter[] = [
  searchParameter({
    url: 'http://example.org/fhir/SearchParameter/Patient-marital-status',
    code: 'marital-status',
    base: ['Patient'],
    type: 'token',
    expression: 'Patient.maritalStatus',
  }),
  searchParameter({
    url: 'http://hl7.org/fhir/SearchParameter/Patient-organization',
    code: 'organization',
    base: ['Patient'],
    type: 'reference',
    target: ['Organization'],
    expression: 'Patient.managingOrganization | Patient.generalPractitioner.where(resolve() is Organization)',
  }),
  searchParameter({
    url: 'http://example.org/fhir/SearchParameter/Basic-custom-created',
    code: 'custom-created',
    base: ['Basic'],
    type: 'date',
    expression: 'Basic.created',
  }),
];

/** The folders `definitionsFile` made for the suite that imports this module; removed after it. */
const made: string[] = [];
afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * Writes `resources` as a collection Bundle into a new temporary folder, removed after
 * the suite (with anything else a test writes there); returns the file's path.
 */
export function definitionsFile(resources: unknown[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-sp-'));
  made.push(dir);
  const path = join(dir, 'search-parameters.json');
  writeFileSync(path, JSON.stringify({ resourceType: 'Bundle', type: 'collection', entry: resources.map((resource) => ({ resource })) }));
  return path;
}

/** Polls `check` until it holds (readiness changes reach a server within about a second). */
export async function eventually(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('the condition did not hold in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
