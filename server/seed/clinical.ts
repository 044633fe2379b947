/**
 * Builders for the non-Observation clinical resources of a visit: Conditions,
 * MedicationRequests, Procedures and Immunizations. Each returns the resource after
 * adding it to the batch.
 */
import type { Condition, Immunization, MedicationRequest, Procedure } from 'fhir/r4';
import { concept, CVX, hl7, RXNORM, SNOMED, type Code } from './codes.js';
import { emit, ref, type PatientCtx, type Visit } from './context.js';
import { dateTime, DAY_MS, MINUTE_MS, REFERENCE_MS } from './time.js';

/** A long-term condition as a problem-list entry, still active at the reference date. */
export function problem(ctx: PatientCtx, visit: Visit, code: Code, onsetMs: number): Condition {
  return emit(ctx, {
    resourceType: 'Condition',
    id: ctx.ids.next(),
    clinicalStatus: hl7('condition-clinical', 'active', 'Active'),
    verificationStatus: hl7('condition-ver-status', 'confirmed', 'Confirmed'),
    category: [hl7('condition-category', 'problem-list-item', 'Problem List Item')],
    code: concept(SNOMED, code),
    subject: ref(ctx.ref),
    encounter: ref(visit.ref),
    onsetDateTime: dateTime(Math.min(onsetMs, visit.start)),
    recordedDate: dateTime(visit.start),
    recorder: ref(visit.clinician.ref),
    asserter: ref(visit.clinician.ref),
  });
}

/** A short illness diagnosed at the visit; resolved a week or three later unless that is still in the future. */
export function diagnosis(ctx: PatientCtx, visit: Visit, code: Code): Condition {
  const abatement = visit.start + ctx.rng.int(7, 21) * DAY_MS;
  const resolved = abatement < REFERENCE_MS;
  const condition: Condition = {
    resourceType: 'Condition',
    id: ctx.ids.next(),
    clinicalStatus: resolved ? hl7('condition-clinical', 'resolved', 'Resolved') : hl7('condition-clinical', 'active', 'Active'),
    verificationStatus: hl7('condition-ver-status', 'confirmed', 'Confirmed'),
    category: [hl7('condition-category', 'encounter-diagnosis', 'Encounter Diagnosis')],
    code: concept(SNOMED, code),
    subject: ref(ctx.ref),
    encounter: ref(visit.ref),
    onsetDateTime: dateTime(visit.start - ctx.rng.int(1, 4) * DAY_MS),
    recordedDate: dateTime(visit.start),
    recorder: ref(visit.clinician.ref),
  };
  if (resolved) condition.abatementDateTime = dateTime(abatement);
  return emit(ctx, condition);
}

/**
 * A prescription for `reasonRef`. Long-term drugs are taken daily and stay active until
 * renewed; short courses are completed.
 */
export function prescription(ctx: PatientCtx, visit: Visit, med: Code, reasonRef: string, longTerm: boolean): MedicationRequest {
  return emit(ctx, {
    resourceType: 'MedicationRequest',
    id: ctx.ids.next(),
    status: longTerm ? 'active' : 'completed',
    intent: 'order',
    medicationCodeableConcept: concept(RXNORM, med),
    subject: ref(ctx.ref),
    encounter: ref(visit.ref),
    authoredOn: dateTime(visit.start + 30 * MINUTE_MS),
    requester: ref(visit.clinician.ref),
    reasonReference: [ref(reasonRef)],
    dosageInstruction: [
      longTerm
        ? { sequence: 1, text: 'Take once daily', timing: { repeat: { frequency: 1, period: 1, periodUnit: 'd' } } }
        : { sequence: 1, text: 'Take as needed for up to 10 days', asNeededBoolean: true },
    ],
  });
}

/** A completed procedure performed during the visit by the visit's clinician. */
export function procedure(ctx: PatientCtx, visit: Visit, code: Code, reasonRef?: string): Procedure {
  const start = visit.start + 20 * MINUTE_MS;
  const proc: Procedure = {
    resourceType: 'Procedure',
    id: ctx.ids.next(),
    status: 'completed',
    code: concept(SNOMED, code),
    subject: ref(ctx.ref),
    encounter: ref(visit.ref),
    performedPeriod: { start: dateTime(start), end: dateTime(start + 15 * MINUTE_MS) },
    performer: [{ actor: ref(visit.clinician.ref) }],
  };
  if (reasonRef) proc.reasonReference = [ref(reasonRef)];
  return emit(ctx, proc);
}

/** A vaccine administered at the visit (CVX code), with an invented lot number. */
export function immunization(ctx: PatientCtx, visit: Visit, vaccine: Code): Immunization {
  ctx.vaccines.add(vaccine.code);
  return emit(ctx, {
    resourceType: 'Immunization',
    id: ctx.ids.next(),
    status: 'completed',
    vaccineCode: concept(CVX, vaccine),
    patient: ref(ctx.ref),
    encounter: ref(visit.ref),
    occurrenceDateTime: dateTime(visit.start + 25 * MINUTE_MS),
    primarySource: true,
    lotNumber: `K${ctx.rng.int(10000, 99999)}`,
    performer: [{ actor: ref(visit.clinician.ref) }],
  });
}
