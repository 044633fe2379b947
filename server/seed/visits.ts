/**
 * Schedules a patient's encounters over the ten years before the reference date and
 * builds the Encounter resources. The schedule is what drives the resource count:
 * roughly one check-up a year, a few sick visits, follow-ups for long-term conditions,
 * and the occasional emergency or admission.
 */
import type { Encounter } from 'fhir/r4';
import { concept, ENCOUNTER_CLASS_DISPLAY, ENCOUNTER_KIND, SNOMED, TERMINOLOGY, type EncounterKind } from './codes.js';
import { emit, ref, type ChronicState, type PatientCtx, type Visit } from './context.js';
import type { Clinician } from './shared.js';
import { DAY_MS, dateTime, HOUR_MS, MINUTE_MS, REFERENCE_MS, YEAR_MS } from './time.js';

/** How far back the generated history reaches. */
const HISTORY_YEARS = 10;

/** A count with the given mean that varies between patients and years (0 … 2×mean). */
function countAround(ctx: PatientCtx, mean: number): number {
  const expected = ctx.rng.float(0, 2 * mean);
  return Math.floor(expected) + (ctx.rng.chance(expected % 1) ? 1 : 0);
}

function clinicianFor(ctx: PatientCtx, kind: EncounterKind, chronic?: ChronicState): Clinician {
  const staff = ctx.hospital.clinicians;
  if (kind === 'emergency') return staff.find((c) => c.specialty === 'emergency') ?? staff[0]!;
  if (kind === 'inpatient') return staff.find((c) => c.specialty === 'internal') ?? staff[0]!;
  const heart = chronic?.def.key === 'afib' || chronic?.def.key === 'cad';
  if (heart) return staff.find((c) => c.specialty === 'cardiology') ?? ctx.gp;
  // Sick visits see whoever is free at the home clinic; planned visits see the patient's GP.
  return kind === 'symptom' ? ctx.rng.pick(ctx.home.clinicians) : ctx.gp;
}

function duration(ctx: PatientCtx, kind: EncounterKind): number {
  if (kind === 'emergency') return ctx.rng.int(2 * 60, 8 * 60) * MINUTE_MS;
  if (kind === 'inpatient') return ctx.rng.int(2, 6) * DAY_MS + ctx.rng.int(0, 12 * 60) * MINUTE_MS;
  // Long enough for the procedures and draws that start up to 40 minutes in.
  return ctx.rng.int(40, 75) * MINUTE_MS;
}

function visit(ctx: PatientCtx, kind: EncounterKind, from: number, to: number, chronic?: ChronicState): Visit {
  const day = Math.floor(ctx.rng.float(from, to) / DAY_MS) * DAY_MS;
  // Clinic hours for planned care; emergencies at any hour.
  const minute = kind === 'emergency' ? ctx.rng.int(0, 24 * 60 - 1) : ctx.rng.int(8 * 60, 16 * 60);
  const start = day + minute * MINUTE_MS;
  const clinician = clinicianFor(ctx, kind, chronic);
  const facility = kind === 'emergency' || kind === 'inpatient' || clinician.specialty === 'cardiology' ? ctx.hospital : ctx.home;
  return { kind, start, end: start + duration(ctx, kind), facility, clinician, chronic, ref: '' };
}

function yearOfVisits(ctx: PatientCtx, from: number, to: number): Visit[] {
  const share = (to - from) / YEAR_MS;
  const out: Visit[] = [];
  if (ctx.rng.chance(0.9 * share)) out.push(visit(ctx, 'checkup', from, to));
  for (let n = countAround(ctx, 1.2 * share); n > 0; n--) out.push(visit(ctx, 'symptom', from, to));
  for (const c of ctx.chronic) {
    if (c.onsetMs >= to) continue;
    const start = Math.max(from, c.onsetMs);
    const perYear = c.def.key === 'diabetes' ? 2 : 1;
    for (let n = countAround(ctx, (perYear * (to - start)) / YEAR_MS); n > 0; n--) out.push(visit(ctx, 'followUp', start, to, c));
  }
  if (ctx.rng.chance(0.08 * share)) out.push(visit(ctx, 'emergency', from, to));
  if (ctx.rng.chance(0.025 * share)) out.push(visit(ctx, 'inpatient', from, to));
  return out;
}

/** All encounters of the patient, in chronological order, ending a week before the reference date. */
export function planVisits(ctx: PatientCtx): Visit[] {
  const first = Math.max(ctx.birthMs + 3 * DAY_MS, REFERENCE_MS - HISTORY_YEARS * YEAR_MS);
  // Stop early enough that a 6-day admission and its lab reports still end in the past.
  const last = REFERENCE_MS - 8 * DAY_MS;
  const visits: Visit[] = [];
  for (let from = first; from < last; from += YEAR_MS) visits.push(...yearOfVisits(ctx, from, Math.min(from + YEAR_MS, last)));
  return visits.sort((a, b) => a.start - b.start);
}

/** Emits the Encounter for a scheduled visit and records its reference on the visit. */
export function encounter(ctx: PatientCtx, v: Visit, reason?: { code: string; display: string }): Encounter {
  const kind = ENCOUNTER_KIND[v.kind];
  const enc: Encounter = {
    resourceType: 'Encounter',
    id: ctx.ids.next(),
    status: 'finished',
    class: { system: `${TERMINOLOGY}/v3-ActCode`, code: kind.cls, display: ENCOUNTER_CLASS_DISPLAY[kind.cls] },
    type: [concept(SNOMED, kind)],
    subject: ref(ctx.ref),
    participant: [
      {
        type: [{ coding: [{ system: `${TERMINOLOGY}/v3-ParticipationType`, code: 'PPRF', display: 'primary performer' }] }],
        individual: ref(v.clinician.ref),
      },
    ],
    period: { start: dateTime(v.start), end: dateTime(v.end) },
    serviceProvider: ref(v.facility.ref),
  };
  if (reason) enc.reasonCode = [concept(SNOMED, reason)];
  v.ref = `Encounter/${enc.id}`;
  return emit(ctx, enc);
}

/** Hours after a visit's end by which everything about it has been recorded. */
export const RECORDING_LAG_MS = 6 * HOUR_MS;
