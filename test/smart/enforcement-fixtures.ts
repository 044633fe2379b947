import { expect } from '@jest/globals';
import { fhirFetch, type TestApp } from '../helpers/app.js';
import { backendToken, userToken } from '../helpers/auth.js';

/**
 * Data and helpers shared by the scope enforcement suites: two patients, each with an
 * Encounter, laboratory and vital-signs Observations, problem-list and encounter-diagnosis
 * Conditions; the server records a Provenance for every write.
 */

export const OBS_CAT = 'http://terminology.hl7.org/CodeSystem/observation-category';
export const COND_CAT = 'http://terminology.hl7.org/CodeSystem/condition-category';
export const US_CORE_CAT = 'http://hl7.org/fhir/us/core/CodeSystem/us-core-category';
export const LAB = `${OBS_CAT}|laboratory`;
export const VITALS = `${OBS_CAT}|vital-signs`;
export const SDOH = `${US_CORE_CAT}|sdoh`;
export const PROBLEM = `${COND_CAT}|problem-list-item`;
export const DIAGNOSIS = `${COND_CAT}|encounter-diagnosis`;

type Json = Record<string, unknown>;

function observation(id: string, patient: string, system: string, code: string, extra: Json = {}): Json {
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    category: [{ coding: [{ system, code }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
    subject: { reference: `Patient/${patient}` },
    ...extra,
  };
}

function condition(id: string, patient: string, code: string, extra: Json = {}): Json {
  return { resourceType: 'Condition', id, category: [{ coding: [{ system: COND_CAT, code }] }], subject: { reference: `Patient/${patient}` }, ...extra };
}

/** The seeded resources, written in this order (each with PUT, so with its own id). */
export function seedResources(): Json[] {
  return [
    { resourceType: 'Patient', id: 'p1', name: [{ family: 'One' }] },
    { resourceType: 'Patient', id: 'p2', name: [{ family: 'Two' }] },
    { resourceType: 'Practitioner', id: 'doc', name: [{ family: 'Doctor' }] },
    { resourceType: 'Encounter', id: 'enc1', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/p1' } },
    { resourceType: 'Encounter', id: 'enc2', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/p2' } },
    observation('lab1', 'p1', OBS_CAT, 'laboratory', { performer: [{ reference: 'Practitioner/doc' }], encounter: { reference: 'Encounter/enc1' } }),
    observation('lab2', 'p2', OBS_CAT, 'laboratory', { focus: [{ reference: 'Patient/p1' }] }),
    observation('vital2', 'p2', OBS_CAT, 'vital-signs'),
    // p1's vital signs point at p2's lab result: includes must not follow that.
    observation('vital1', 'p1', OBS_CAT, 'vital-signs', { hasMember: [{ reference: 'Observation/lab2' }] }),
    observation('sdoh1', 'p1', US_CORE_CAT, 'sdoh'),
    condition('pl1', 'p1', 'problem-list-item'),
    condition('ed1', 'p1', 'encounter-diagnosis', { encounter: { reference: 'Encounter/enc1' } }),
    condition('pl2', 'p2', 'problem-list-item'),
    condition('ed2', 'p2', 'encounter-diagnosis', { encounter: { reference: 'Encounter/enc2' } }),
  ];
}

/** Writes the seed data with the app's full-access token. */
export async function seed(t: TestApp): Promise<void> {
  for (const r of seedResources()) {
    const res = await fhirFetch(t, `${r.resourceType}/${r.id}`, { method: 'PUT', body: r });
    if (res.status !== 201 && res.status !== 200) throw new Error(`seeding ${r.resourceType}/${r.id}: ${res.status} ${res.text}`);
  }
}

/** `Type/id` of a Bundle's entries (of the given search mode, when one is given), sorted. */
export function refs(bundle: { entry?: { resource?: { resourceType: string; id?: string }; search?: { mode?: string } }[] }, mode?: string): string[] {
  return (bundle.entry ?? [])
    .filter((e) => e.resource && e.resource.resourceType !== 'OperationOutcome' && (mode === undefined || e.search?.mode === mode))
    .map((e) => `${e.resource?.resourceType}/${e.resource?.id}`)
    .sort();
}

/** The `Type/id` of a history Bundle's entries, without repeats, sorted. */
export function historyRefs(bundle: { entry?: { fullUrl?: string; request?: { url?: string } }[] }): string[] {
  const out = new Set<string>();
  for (const e of bundle.entry ?? []) {
    const m = /([A-Z][A-Za-z]+\/[^/]+)$/.exec(e.fullUrl ?? '');
    if (m) out.add(m[1]);
  }
  return [...out].sort();
}

/** The 403 of a token whose scopes do not allow the interaction (RFC 6750 `insufficient_scope`). */
export function expectInsufficientScope(res: { status: number; headers: Headers; body: { resourceType?: string } }): void {
  expect(res.status).toBe(403);
  expect(res.headers.get('www-authenticate') ?? '').toContain('insufficient_scope');
  expect(res.body.resourceType).toBe('OperationOutcome');
}

/** The 403 of a resource outside what the token may reach (a plain OperationOutcome, no challenge). */
export function expectForbidden(res: { status: number; headers: Headers; body: { resourceType?: string } }): void {
  expect(res.status).toBe(403);
  expect(res.headers.get('www-authenticate')).toBeNull();
  expect(res.body.resourceType).toBe('OperationOutcome');
}

/** A user-flow token with `scope`, in the context of `patient` when given. */
export async function tokenFor(t: TestApp, scope: string, patient?: string): Promise<string> {
  return (await userToken(t.app, { scope, patient })).token;
}

/** A backend-services token with system scopes. */
export function systemToken(t: TestApp, scope: string): Promise<string> {
  return backendToken(t.app, scope);
}

/** How many current resources of `type` there are, counted with the full-access token. */
export async function countOf(t: TestApp, type: string): Promise<number> {
  const res = await fhirFetch(t, `${type}?_summary=count`);
  return res.body.total as number;
}
