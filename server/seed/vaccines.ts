/**
 * A simplified, age-based immunization schedule applied at check-ups. It is not the
 * CDC schedule; it only has to produce plausible CVX-coded histories.
 */
import type { Code } from './codes.js';
import { immunization } from './clinical.js';
import { ageAt, type PatientCtx, type Visit } from './context.js';

/** A vaccine, the ages it is given at, how likely per eligible check-up, and whether only once. */
interface Rule extends Code {
  minAge: number;
  maxAge: number;
  chance: number;
  once: boolean;
  /** First calendar year the vaccine existed (COVID-19). */
  fromYear?: number;
}

const RULES: readonly Rule[] = [
  { code: '140', display: 'Influenza, seasonal, injectable, preservative free', minAge: 0.5, maxAge: 200, chance: 0.55, once: false },
  { code: '208', display: 'SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, 30 mcg/0.3mL dose', minAge: 12, maxAge: 200, chance: 0.35, once: false, fromYear: 2021 },
  { code: '20', display: 'DTaP', minAge: 0.1, maxAge: 7, chance: 0.6, once: false },
  { code: '10', display: 'IPV', minAge: 0.1, maxAge: 7, chance: 0.5, once: false },
  { code: '08', display: 'Hep B, adolescent or pediatric', minAge: 0, maxAge: 2, chance: 0.6, once: false },
  { code: '03', display: 'MMR', minAge: 1, maxAge: 7, chance: 0.5, once: true },
  { code: '21', display: 'varicella', minAge: 1, maxAge: 7, chance: 0.5, once: true },
  { code: '115', display: 'Tdap', minAge: 11, maxAge: 200, chance: 0.25, once: true },
  { code: '62', display: 'HPV, quadrivalent', minAge: 11, maxAge: 27, chance: 0.3, once: true },
  { code: '113', display: 'Td (adult) preservative free', minAge: 19, maxAge: 200, chance: 0.06, once: false },
  { code: '43', display: 'Hep B, adult', minAge: 19, maxAge: 60, chance: 0.04, once: true },
  { code: '187', display: 'zoster vaccine recombinant', minAge: 50, maxAge: 200, chance: 0.25, once: true },
  { code: '133', display: 'Pneumococcal conjugate PCV 13', minAge: 65, maxAge: 200, chance: 0.4, once: true },
];

/** Gives the vaccines due at this check-up. */
export function vaccinate(ctx: PatientCtx, visit: Visit): void {
  const age = ageAt(ctx, visit.start);
  const year = new Date(visit.start).getUTCFullYear();
  for (const rule of RULES) {
    if (age < rule.minAge || age >= rule.maxAge) continue;
    if (rule.fromYear !== undefined && year < rule.fromYear) continue;
    if (rule.once && ctx.vaccines.has(rule.code)) continue;
    if (ctx.rng.chance(rule.chance)) immunization(ctx, visit, rule);
  }
}
