/**
 * Vital signs, social history and survey Observations taken at an encounter.
 * Values follow the patient's age and conditions so that searches such as
 * `Observation?code=8480-6&value-quantity=gt140` return clinically coherent patients.
 */
import type { Observation, Quantity } from 'fhir/r4';
import { concept, hl7, LOINC, SMOKING_STATUS, SNOMED, UCUM, type Code } from './codes.js';
import { ageAt, emit, has, ref, type PatientCtx, type Visit } from './context.js';
import { round } from './prng.js';
import { dateTime, instant, MINUTE_MS } from './time.js';

type Category = 'vital-signs' | 'laboratory' | 'social-history' | 'survey';

const CATEGORY_DISPLAY: Record<Category, string> = {
  'vital-signs': 'Vital Signs',
  laboratory: 'Laboratory',
  'social-history': 'Social History',
  survey: 'Survey',
};

/** A UCUM quantity; the unit code doubles as the human-readable unit. */
export function quantity(value: number, unit: string): Quantity {
  return { value, unit, system: UCUM, code: unit };
}

/** The common skeleton of every Observation: final, categorised, tied to patient and encounter. */
export function observation(ctx: PatientCtx, visit: Visit, category: Category, code: Code, at: number): Observation {
  return {
    resourceType: 'Observation',
    id: ctx.ids.next(),
    status: 'final',
    category: [hl7('observation-category', category, CATEGORY_DISPLAY[category])],
    code: concept(LOINC, code),
    subject: ref(ctx.ref),
    encounter: ref(visit.ref),
    effectiveDateTime: dateTime(at),
    issued: instant(at + 5 * MINUTE_MS),
  };
}

function simple(ctx: PatientCtx, visit: Visit, code: Code, value: number, unit: string, at: number): Observation {
  const obs = observation(ctx, visit, 'vital-signs', code, at);
  obs.valueQuantity = quantity(value, unit);
  return emit(ctx, obs);
}

// Height as a fraction of adult height by age (years); a coarse growth curve of our own.
const GROWTH: readonly [number, number][] = [[0, 0.29], [1, 0.44], [2, 0.51], [5, 0.64], [10, 0.8], [14, 0.93], [18, 1]];

function heightCm(ctx: PatientCtx, age: number): number {
  let fraction = 1;
  for (let i = 1; i < GROWTH.length; i++) {
    const [a0, f0] = GROWTH[i - 1]!;
    const [a1, f1] = GROWTH[i]!;
    if (age < a1) {
      fraction = f0 + ((f1 - f0) * (age - a0)) / (a1 - a0);
      break;
    }
  }
  return round(ctx.adultHeightCm * fraction + ctx.rng.float(-0.4, 0.4), 1);
}

// Resting heart rate and respiratory rate fall through childhood.
function byAge(age: number, infant: number, toddler: number, child: number, adult: number): number {
  return age < 1 ? infant : age < 5 ? toddler : age < 12 ? child : adult;
}

function bloodPressure(ctx: PatientCtx, visit: Visit, age: number, at: number): void {
  const { rng } = ctx;
  const hypertensive = has(ctx, 'hypertension', at);
  const systolic = Math.round(age < 18 ? rng.normal(102, 7) : rng.normal(116 + 0.3 * (age - 30), 9) + (hypertensive ? 20 : 0));
  const diastolic = Math.min(systolic - 25, Math.round(age < 18 ? rng.normal(63, 5) : rng.normal(75, 6) + (hypertensive ? 9 : 0)));
  const obs = observation(ctx, visit, 'vital-signs', { code: '85354-9', display: 'Blood pressure panel with all children optional' }, at);
  obs.component = [
    { code: concept(LOINC, { code: '8480-6', display: 'Systolic blood pressure' }), valueQuantity: quantity(systolic, 'mm[Hg]') },
    { code: concept(LOINC, { code: '8462-4', display: 'Diastolic blood pressure' }), valueQuantity: quantity(diastolic, 'mm[Hg]') },
  ];
  emit(ctx, obs);
}

/** The eight vital-sign Observations of one encounter (BP as a panel with two components). */
export function vitalSigns(ctx: PatientCtx, visit: Visit): void {
  const { rng } = ctx;
  const at = visit.start + 10 * MINUTE_MS;
  const age = ageAt(ctx, at);
  const height = heightCm(ctx, age);
  // Children sit near a BMI of 16–18; adults drift upwards slowly with age.
  const bmi = age < 18 ? 16 + (ctx.bmi - 25) * 0.15 + age * 0.05 : ctx.bmi + (age - 40) * 0.04 + rng.normal(0, 0.4);
  const weight = round(bmi * (height / 100) ** 2, 1);
  const febrile = visit.kind === 'symptom' || visit.kind === 'emergency';
  simple(ctx, visit, { code: '8302-2', display: 'Body height' }, height, 'cm', at);
  simple(ctx, visit, { code: '29463-7', display: 'Body weight' }, weight, 'kg', at);
  simple(ctx, visit, { code: '39156-5', display: 'Body mass index (BMI) [Ratio]' }, round(weight / (height / 100) ** 2, 1), 'kg/m2', at);
  simple(ctx, visit, { code: '8867-4', display: 'Heart rate' }, Math.round(rng.normal(byAge(age, 125, 105, 88, 72), 8)), '/min', at);
  simple(ctx, visit, { code: '9279-1', display: 'Respiratory rate' }, Math.round(rng.normal(byAge(age, 34, 25, 20, 15), 2)), '/min', at);
  simple(ctx, visit, { code: '8310-5', display: 'Body temperature' }, round(rng.normal(febrile ? 37.7 : 36.8, febrile ? 0.6 : 0.25), 1), 'Cel', at);
  const spo2 = has(ctx, 'copd', at) ? rng.normal(93, 1.5) : rng.normal(98, 0.8);
  simple(ctx, visit, { code: '2708-6', display: 'Oxygen saturation in Arterial blood' }, Math.min(100, Math.round(spo2)), '%', at);
  bloodPressure(ctx, visit, age, at);
}

/** Tobacco and (for adults) alcohol use, recorded at check-ups. */
export function socialHistory(ctx: PatientCtx, visit: Visit): void {
  const at = visit.start + 15 * MINUTE_MS;
  const age = ageAt(ctx, at);
  if (age < 12) return;
  const tobacco = observation(ctx, visit, 'social-history', { code: '72166-2', display: 'Tobacco smoking status' }, at);
  // Teenagers are recorded as never smokers; the patient's own habit applies from 18.
  tobacco.valueCodeableConcept = concept(SNOMED, age < 18 ? SMOKING_STATUS[0]! : ctx.smoking);
  emit(ctx, tobacco);
  if (age < 18) return;
  const alcohol = observation(ctx, visit, 'social-history', { code: '74013-4', display: 'Alcoholic drinks per day' }, at);
  alcohol.valueQuantity = quantity(ctx.drinksPerDay, '{drinks}/d');
  emit(ctx, alcohol);
}

/** A PHQ-2 depression screening score (0–6); patients with depression score higher. */
export function phq2(ctx: PatientCtx, visit: Visit): void {
  const at = visit.start + 20 * MINUTE_MS;
  const depressed = has(ctx, 'depression', at);
  const score = Math.max(0, Math.min(6, Math.round(ctx.rng.normal(depressed ? 3.5 : 0.6, 1))));
  const obs = observation(ctx, visit, 'survey', { code: '55758-7', display: 'Patient Health Questionnaire 2 item (PHQ-2) total score [Reported]' }, at);
  obs.valueQuantity = quantity(score, '{score}');
  emit(ctx, obs);
}
