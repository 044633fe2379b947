/**
 * The per-patient state threaded through the builders of one patient batch, and the
 * tiny helpers every builder needs (references, ages, active conditions).
 */
import type { MedicationRequest, Reference, Resource } from 'fhir/r4';
import type { ChronicCondition, ChronicKey, Code, EncounterKind } from './codes.js';
import type { IdFactory } from './ids.js';
import type { Sex } from './people.js';
import type { Rng } from './prng.js';
import type { Clinician, Facility } from './shared.js';
import { YEAR_MS } from './time.js';

/** A long-term condition the patient develops, and what has been recorded about it so far. */
export interface ChronicState {
  def: ChronicCondition;
  onsetMs: number;
  /** The usual treatment chosen for this patient, if the condition has one. */
  med?: Code;
  /** `Condition/id` once diagnosed at a visit. */
  conditionRef?: string;
  /** The latest prescription, so a renewal can mark it completed. */
  lastRequest?: MedicationRequest;
}

/** One encounter as scheduled, before its resources are built. */
export interface Visit {
  kind: EncounterKind;
  start: number;
  end: number;
  facility: Facility;
  clinician: Clinician;
  /** For follow-ups: the condition being followed. */
  chronic?: ChronicState;
  /** `Encounter/id`, set when the Encounter resource is built. */
  ref: string;
}

/** Everything the builders of one patient batch share. */
export interface PatientCtx {
  rng: Rng;
  ids: IdFactory;
  /** `Patient/id`. */
  ref: string;
  gender: Sex;
  birthMs: number;
  home: Facility;
  gp: Clinician;
  hospital: Facility;
  chronic: ChronicState[];
  adultHeightCm: number;
  /** Baseline body-mass index the patient's weight follows as an adult. */
  bmi: number;
  smoking: Code;
  drinksPerDay: number;
  /** Vaccine codes already given (for once-only vaccines). */
  vaccines: Set<string>;
  /** The batch being built, in creation order. */
  resources: Resource[];
}

/** A FHIR Reference from a "Type/id" string. */
export function ref(reference: string): Reference {
  return { reference };
}

/** Fractional age in years at an instant. */
export function ageAt(ctx: PatientCtx, ms: number): number {
  return (ms - ctx.birthMs) / YEAR_MS;
}

/** Whether the patient has the condition (diagnosed or not) at an instant. */
export function has(ctx: PatientCtx, key: ChronicKey, ms: number): boolean {
  return ctx.chronic.some((c) => c.def.key === key && c.onsetMs <= ms);
}

/** Adds a resource to the batch and returns it, so builders can chain. */
export function emit<T extends Resource>(ctx: PatientCtx, resource: T): T {
  ctx.resources.push(resource);
  return resource;
}
