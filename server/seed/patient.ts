/**
 * Creates one patient: draws its demographics and long-term traits, builds the Patient
 * resource, and returns the context the rest of the batch is built from.
 */
import type { Patient } from 'fhir/r4';
import { CHRONIC, hl7, MRN_SYSTEM, SMOKING_STATUS, type Code } from './codes.js';
import { emit, type ChronicState, type PatientCtx } from './context.js';
import { IdFactory } from './ids.js';
import { address, email, personName, phone, type Sex } from './people.js';
import { Rng } from './prng.js';
import type { Clinician, Facility, SharedData } from './shared.js';
import { date, DAY_MS, REFERENCE_MS, YEAR_MS } from './time.js';

/**
 * The id generator of patient `index`, positioned so that its first id is the Patient's.
 * The final Group batch calls this to rebuild member ids without keeping them in memory.
 */
export function patientStreams(seed: number, index: number): { rng: Rng; ids: IdFactory } {
  const rng = new Rng(seed, index);
  return { rng, ids: new IdFactory(rng, seed, index) };
}

// Age bands (upper bound exclusive) with the share of patients in each; roughly a US-like pyramid.
const AGE_BANDS: readonly [number, number, number][] = [[0, 18, 0.22], [18, 45, 0.36], [45, 65, 0.26], [65, 95, 0.16]];

function drawAge(rng: Rng): number {
  let u = rng.next();
  for (const [lo, hi, share] of AGE_BANDS) {
    if (u < share) return rng.float(lo, hi);
    u -= share;
  }
  return rng.float(18, 45);
}

function weighted(rng: Rng, items: readonly (Code & { weight: number })[]): Code {
  let u = rng.next();
  for (const item of items) {
    if (u < item.weight) return { code: item.code, display: item.display };
    u -= item.weight;
  }
  return items[0]!;
}

/** Long-term conditions the patient develops before the reference date; older patients get more. */
function drawChronic(rng: Rng, birthMs: number): ChronicState[] {
  const ageNow = (REFERENCE_MS - birthMs) / YEAR_MS;
  const out: ChronicState[] = [];
  for (const def of CHRONIC) {
    if (ageNow < def.minAge) continue;
    const ageFactor = Math.min(1.6, Math.max(0.3, 0.3 + (ageNow - def.minAge) / 30));
    if (!rng.chance(def.prevalence * ageFactor)) continue;
    const onsetMs = birthMs + rng.float(def.minAge, ageNow) * YEAR_MS;
    out.push({ def, onsetMs, med: def.meds.length > 0 ? rng.pick(def.meds) : undefined });
  }
  return out.sort((a, b) => a.onsetMs - b.onsetMs);
}

function primaryCare(rng: Rng, shared: SharedData, age: number): { home: Facility; gp: Clinician; hospital: Facility } {
  const clinics = shared.facilities.filter((f) => !f.hospital);
  const home = rng.pick(clinics);
  const wanted = age < 16 ? ['pediatrics'] : ['general', 'internal'];
  const gp = rng.pick(home.clinicians.filter((c) => wanted.includes(c.specialty)));
  return { home, gp, hospital: rng.pick(shared.facilities.filter((f) => f.hospital)) };
}

function patientResource(ctx: PatientCtx, index: number, age: number): Patient {
  const { rng } = ctx;
  const name = personName(rng, ctx.gender);
  const patient: Patient = {
    resourceType: 'Patient',
    id: ctx.ref.slice('Patient/'.length),
    identifier: [{ use: 'usual', type: hl7('v2-0203', 'MR', 'Medical record number'), system: MRN_SYSTEM, value: String(index + 1).padStart(8, '0') }],
    active: true,
    name: [name],
    telecom: [phone(rng, 'home'), email(name, rng.int(1, 99))],
    gender: ctx.gender,
    birthDate: date(ctx.birthMs),
    address: [address(rng, 'home')],
    communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'en-US', display: 'English (United States)' }] }, preferred: true }],
    generalPractitioner: [{ reference: ctx.gp.ref }],
    managingOrganization: { reference: ctx.home.ref },
  };
  if (age >= 18) {
    const [code, display] = rng.pick([['M', 'Married'], ['S', 'Never Married'], ['D', 'Divorced'], ['W', 'Widowed']] as const);
    patient.maritalStatus = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus', code, display }] };
  }
  return patient;
}

/** Draws patient `index` of the seed and emits its Patient resource as the batch's first entry. */
export function newPatient(shared: SharedData, seed: number, index: number): PatientCtx {
  const { rng, ids } = patientStreams(seed, index);
  const ref = `Patient/${ids.next()}`;
  const age = drawAge(rng);
  const gender: Sex = rng.chance(0.5) ? 'female' : 'male';
  const birthMs = REFERENCE_MS - age * YEAR_MS - rng.int(0, 364) * DAY_MS;
  const ctx: PatientCtx = {
    rng, ids, ref, gender, birthMs,
    ...primaryCare(rng, shared, age),
    chronic: drawChronic(rng, birthMs),
    adultHeightCm: rng.normal(gender === 'female' ? 163 : 177, 6),
    bmi: rng.normal(27, 3.5),
    smoking: weighted(rng, SMOKING_STATUS),
    drinksPerDay: rng.chance(0.4) ? 0 : rng.int(1, 3),
    vaccines: new Set(),
    resources: [],
  };
  emit(ctx, patientResource(ctx, index, age));
  return ctx;
}
