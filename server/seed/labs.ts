/**
 * Laboratory panels: one Observation per analyte (category `laboratory`, UCUM units,
 * reference range and H/L/N interpretation) and a DiagnosticReport that lists them.
 */
import type { DiagnosticReport, Observation } from 'fhir/r4';
import { concept, LOINC, TERMINOLOGY, type ChronicKey, type Code } from './codes.js';
import { emit, has, ref, type PatientCtx, type Visit } from './context.js';
import { observation, quantity } from './observations.js';
import { round } from './prng.js';
import { dateTime, HOUR_MS, instant, MINUTE_MS } from './time.js';

/** How one analyte is distributed, with an optional shift for patients with a condition. */
interface Analyte extends Code {
  unit: string;
  decimals: number;
  low: number;
  high: number;
  mean: number;
  sd: number;
  /** Lower mean for female patients (hemoglobin, creatinine). */
  femaleOffset?: number;
  when?: { key: ChronicKey; mean: number; sd: number };
}

/** A LOINC panel and its member analytes. */
export interface Panel extends Code {
  analytes: readonly Analyte[];
}

const GLUCOSE: Analyte = { code: '2339-0', display: 'Glucose [Mass/volume] in Blood', unit: 'mg/dL', decimals: 0, low: 70, high: 99, mean: 90, sd: 9, when: { key: 'diabetes', mean: 165, sd: 30 } };
const HBA1C: Analyte = { code: '4548-4', display: 'Hemoglobin A1c/Hemoglobin.total in Blood', unit: '%', decimals: 1, low: 4, high: 5.6, mean: 5.3, sd: 0.3, when: { key: 'diabetes', mean: 7.6, sd: 0.9 } };

/** Complete blood count. */
export const CBC: Panel = {
  code: '58410-2', display: 'CBC panel - Blood by Automated count',
  analytes: [
    { code: '6690-2', display: 'Leukocytes [#/volume] in Blood by Automated count', unit: '10*3/uL', decimals: 1, low: 4.5, high: 11, mean: 7.2, sd: 1.6 },
    { code: '789-8', display: 'Erythrocytes [#/volume] in Blood by Automated count', unit: '10*6/uL', decimals: 2, low: 4.2, high: 5.9, mean: 5, sd: 0.4, femaleOffset: 0.4 },
    { code: '718-7', display: 'Hemoglobin [Mass/volume] in Blood', unit: 'g/dL', decimals: 1, low: 12, high: 17.5, mean: 15, sd: 0.9, femaleOffset: 1.5 },
    { code: '4544-3', display: 'Hematocrit [Volume Fraction] of Blood by Automated count', unit: '%', decimals: 1, low: 36, high: 50, mean: 44, sd: 2.5, femaleOffset: 4 },
    { code: '777-3', display: 'Platelets [#/volume] in Blood by Automated count', unit: '10*3/uL', decimals: 0, low: 150, high: 400, mean: 260, sd: 50 },
  ],
};

/** Basic metabolic panel. */
export const BMP: Panel = {
  code: '51990-0', display: 'Basic metabolic panel - Blood',
  analytes: [
    GLUCOSE,
    { code: '3094-0', display: 'Urea nitrogen [Mass/volume] in Serum or Plasma', unit: 'mg/dL', decimals: 0, low: 7, high: 20, mean: 14, sd: 3, when: { key: 'ckd', mean: 32, sd: 6 } },
    { code: '2160-0', display: 'Creatinine [Mass/volume] in Serum or Plasma', unit: 'mg/dL', decimals: 2, low: 0.6, high: 1.3, mean: 0.95, sd: 0.13, femaleOffset: 0.15, when: { key: 'ckd', mean: 1.8, sd: 0.25 } },
    { code: '17861-6', display: 'Calcium [Mass/volume] in Serum or Plasma', unit: 'mg/dL', decimals: 1, low: 8.5, high: 10.2, mean: 9.4, sd: 0.3 },
    { code: '2951-2', display: 'Sodium [Moles/volume] in Serum or Plasma', unit: 'mmol/L', decimals: 0, low: 135, high: 145, mean: 140, sd: 2 },
    { code: '2823-3', display: 'Potassium [Moles/volume] in Serum or Plasma', unit: 'mmol/L', decimals: 1, low: 3.5, high: 5.1, mean: 4.2, sd: 0.3 },
    { code: '2075-0', display: 'Chloride [Moles/volume] in Serum or Plasma', unit: 'mmol/L', decimals: 0, low: 98, high: 107, mean: 102, sd: 2 },
    { code: '2028-9', display: 'Carbon dioxide, total [Moles/volume] in Serum or Plasma', unit: 'mmol/L', decimals: 0, low: 22, high: 29, mean: 25, sd: 1.5 },
  ],
};

/** Lipid panel. */
export const LIPIDS: Panel = {
  code: '57698-3', display: 'Lipid panel with direct LDL - Serum or Plasma',
  analytes: [
    { code: '2093-3', display: 'Cholesterol [Mass/volume] in Serum or Plasma', unit: 'mg/dL', decimals: 0, low: 100, high: 199, mean: 182, sd: 22, when: { key: 'hyperlipidemia', mean: 242, sd: 25 } },
    { code: '2571-8', display: 'Triglyceride [Mass/volume] in Serum or Plasma', unit: 'mg/dL', decimals: 0, low: 30, high: 149, mean: 115, sd: 30, when: { key: 'hyperlipidemia', mean: 205, sd: 45 } },
    { code: '2085-9', display: 'Cholesterol in HDL [Mass/volume] in Serum or Plasma', unit: 'mg/dL', decimals: 0, low: 40, high: 90, mean: 55, sd: 9 },
    { code: '18262-6', display: 'Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay', unit: 'mg/dL', decimals: 0, low: 30, high: 129, mean: 105, sd: 18, when: { key: 'hyperlipidemia', mean: 160, sd: 20 } },
  ],
};

/** HbA1c is ordered on its own; its report carries the analyte's own code. */
export const A1C: Panel = { code: HBA1C.code, display: HBA1C.display, analytes: [HBA1C] };

const INTERPRETATION = {
  H: 'High',
  L: 'Low',
  N: 'Normal',
} as const;

function analyteValue(ctx: PatientCtx, a: Analyte, at: number): number {
  const shifted = a.when && has(ctx, a.when.key, at) ? a.when : a;
  const offset = ctx.gender === 'female' ? (a.femaleOffset ?? 0) : 0;
  return Math.max(0, round(ctx.rng.normal(shifted.mean - offset, shifted.sd), a.decimals));
}

function labObservation(ctx: PatientCtx, visit: Visit, a: Analyte, at: number, reportedAt: number): Observation {
  const value = analyteValue(ctx, a, at);
  const obs = observation(ctx, visit, 'laboratory', a, at);
  obs.issued = instant(reportedAt);
  obs.performer = [ref(visit.facility.ref)];
  obs.valueQuantity = quantity(value, a.unit);
  const flag = value > a.high ? 'H' : value < a.low ? 'L' : 'N';
  obs.interpretation = [
    { coding: [{ system: `${TERMINOLOGY}/v3-ObservationInterpretation`, code: flag, display: INTERPRETATION[flag] }] },
  ];
  obs.referenceRange = [{ low: quantity(a.low, a.unit), high: quantity(a.high, a.unit) }];
  return emit(ctx, obs);
}

/** Draws a panel at the visit: one Observation per analyte, then the DiagnosticReport over them. */
export function labPanel(ctx: PatientCtx, visit: Visit, panel: Panel): void {
  const at = visit.start + 25 * MINUTE_MS;
  const reportedAt = Math.min(at + 4 * HOUR_MS, visit.end + 3 * HOUR_MS);
  const results = panel.analytes.map((a) => ref(`Observation/${labObservation(ctx, visit, a, at, reportedAt).id}`));
  const report: DiagnosticReport = {
    resourceType: 'DiagnosticReport',
    id: ctx.ids.next(),
    status: 'final',
    category: [{ coding: [{ system: `${TERMINOLOGY}/v2-0074`, code: 'LAB', display: 'Laboratory' }] }],
    code: concept(LOINC, panel),
    subject: ref(ctx.ref),
    encounter: ref(visit.ref),
    effectiveDateTime: dateTime(at),
    issued: instant(reportedAt),
    performer: [ref(visit.facility.ref)],
    result: results,
  };
  emit(ctx, report);
}
