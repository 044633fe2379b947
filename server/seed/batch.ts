/**
 * Builds one patient batch: the Patient, every encounter with its content, and a
 * closing Provenance that names every other resource of the batch as its target.
 */
import type { Provenance, Resource } from 'fhir/r4';
import { allergies } from './allergies.js';
import { diagnosis, prescription, problem, procedure } from './clinical.js';
import { ACUTE, EMERGENCY_REASONS, hl7, INPATIENT_REASONS, PROCEDURE, type AcuteCondition } from './codes.js';
import { ageAt, emit, ref, type ChronicState, type PatientCtx, type Visit } from './context.js';
import { A1C, BMP, CBC, labPanel, LIPIDS, type Panel } from './labs.js';
import { phq2, socialHistory, vitalSigns } from './observations.js';
import { newPatient } from './patient.js';
import type { SharedData } from './shared.js';
import { DAY_MS, instant, REFERENCE_MS } from './time.js';
import { vaccinate } from './vaccines.js';
import { encounter, planVisits, RECORDING_LAG_MS } from './visits.js';

/** Records a long-term prescription, closing the previous one: only the latest stays active. */
function renew(ctx: PatientCtx, v: Visit, c: ChronicState): void {
  if (!c.med || !c.conditionRef) return;
  if (c.lastRequest) c.lastRequest.status = 'completed';
  c.lastRequest = prescription(ctx, v, c.med, c.conditionRef, true);
}

/** Puts conditions that have begun by this visit on the problem list and starts their treatment. */
function diagnoseDue(ctx: PatientCtx, v: Visit): void {
  for (const c of ctx.chronic) {
    if (c.conditionRef || (c.onsetMs > v.start && c !== v.chronic)) continue;
    c.conditionRef = `Condition/${problem(ctx, v, c.def, c.onsetMs).id}`;
    renew(ctx, v, c);
  }
}

function labs(ctx: PatientCtx, v: Visit, panels: (Panel | false)[]): void {
  for (const p of panels) if (p) labPanel(ctx, v, p);
}

function checkup(ctx: PatientCtx, v: Visit): void {
  const { rng } = ctx;
  const age = ageAt(ctx, v.start);
  const diabetic = ctx.chronic.some((c) => c.def.key === 'diabetes' && c.conditionRef);
  socialHistory(ctx, v);
  if (age >= 12) {
    phq2(ctx, v);
    procedure(ctx, v, PROCEDURE.depressionScreening);
  }
  if (age >= 18) labs(ctx, v, [BMP, rng.chance(0.5) && CBC, age >= 20 && rng.chance(0.7) && LIPIDS, (diabetic || (age >= 35 && rng.chance(0.2))) && A1C]);
  else labs(ctx, v, [rng.chance(0.15) && CBC]);
  if (ctx.chronic.some((c) => c.lastRequest)) procedure(ctx, v, PROCEDURE.medReconciliation);
  if (ctx.gender === 'female' && age >= 40 && rng.chance(0.5)) procedure(ctx, v, PROCEDURE.mammography);
  if (age >= 45 && rng.chance(0.08)) procedure(ctx, v, PROCEDURE.colonoscopy);
  vaccinate(ctx, v);
}

function followUp(ctx: PatientCtx, v: Visit, c: ChronicState): void {
  renew(ctx, v, c);
  const key = c.def.key;
  if (key === 'diabetes') labs(ctx, v, [A1C, BMP]);
  else if (key === 'hyperlipidemia') labs(ctx, v, [LIPIDS]);
  else if (key === 'ckd' || key === 'hypertension') labs(ctx, v, [BMP]);
  else if (key === 'afib' || key === 'cad') procedure(ctx, v, PROCEDURE.ecg, c.conditionRef);
  else if (key === 'depression' || key === 'anxiety') phq2(ctx, v);
}

/** Diagnosis, usual prescription and usual procedure of an acute illness. */
function treat(ctx: PatientCtx, v: Visit, acute: AcuteCondition): void {
  const conditionRef = `Condition/${diagnosis(ctx, v, acute).id}`;
  if (acute.med) prescription(ctx, v, acute.med, conditionRef, false);
  if (acute.procedure) procedure(ctx, v, acute.procedure, conditionRef);
}

function hospitalStay(ctx: PatientCtx, v: Visit, acute: AcuteCondition): void {
  labs(ctx, v, [CBC, BMP]);
  treat(ctx, v, acute);
  if (v.kind === 'emergency' && !acute.procedure && ctx.rng.chance(0.3)) procedure(ctx, v, PROCEDURE.ecg);
  // Admitted patients get vitals every day of the stay.
  for (let day = v.start + DAY_MS; day < v.end; day += DAY_MS) vitalSigns(ctx, { ...v, start: day });
}

function reasonFor(ctx: PatientCtx, v: Visit): AcuteCondition | undefined {
  if (v.kind === 'symptom') return ctx.rng.pick(ACUTE);
  if (v.kind === 'emergency') return ctx.rng.pick(EMERGENCY_REASONS);
  if (v.kind === 'inpatient') return ctx.rng.pick(INPATIENT_REASONS);
  return undefined;
}

function runVisit(ctx: PatientCtx, v: Visit, first: boolean): void {
  const acute = reasonFor(ctx, v);
  encounter(ctx, v, acute);
  if (first) allergies(ctx, v);
  diagnoseDue(ctx, v);
  vitalSigns(ctx, v);
  if (v.kind === 'checkup') checkup(ctx, v);
  else if (v.kind === 'followUp' && v.chronic) followUp(ctx, v, v.chronic);
  else if (acute) (v.kind === 'symptom' ? treat : hospitalStay)(ctx, v, acute);
}

function provenance(ctx: PatientCtx, visits: Visit[]): Provenance {
  const lastEnd = visits.reduce((max, v) => Math.max(max, v.end), 0);
  return {
    resourceType: 'Provenance',
    id: ctx.ids.next(),
    target: ctx.resources.map((r) => ref(`${r.resourceType}/${r.id}`)),
    recorded: instant(lastEnd > 0 ? Math.min(REFERENCE_MS, lastEnd + RECORDING_LAG_MS) : REFERENCE_MS),
    activity: hl7('v3-DataOperation', 'CREATE', 'create'),
    agent: [{ type: hl7('provenance-participant-type', 'author', 'Author'), who: ref(ctx.home.ref) }],
  };
}

/** Everything generated for patient `index` of the seed, Provenance last. */
export function patientBatch(shared: SharedData, seed: number, index: number): Resource[] {
  const ctx = newPatient(shared, seed, index);
  const visits = planVisits(ctx);
  visits.forEach((v, i) => runVisit(ctx, v, i === 0));
  emit(ctx, provenance(ctx, visits));
  return ctx.resources;
}
