/**
 * Deterministic synthetic FHIR R4 sample data, written by this project (no third-party
 * data). Used by `kiln seed`, by the first `npm start`, and by the benchmarks.
 *
 * Guarantees:
 * - the same (patients, seed) always yields byte-for-byte the same resources: there is
 *   no clock and no `Math.random()`, only a seeded generator and a fixed reference date;
 * - prefix stability: patient K depends only on (seed, K), so the first K patients of a
 *   large run equal those of a small one (only the final Group differs);
 * - laziness: batches are built one at a time, so memory stays flat for any count.
 */
import type { Group, Resource } from 'fhir/r4';
import { patientBatch } from './batch.js';
import { GROUP_NAMESPACE, IdFactory } from './ids.js';
import { patientStreams } from './patient.js';
import { hashWords, Rng } from './prng.js';
import { generateShared, type SharedData } from './shared.js';

/** What to generate: how many patients, and the seed that makes the output reproducible. */
export interface SeedOptions {
  patients: number;
  seed: number;
}

/** One unit of generated output: complete resources with ids, referring to each other as "Type/id". */
export interface SeedBatch {
  /** `shared`, `patient-<n>` (1-based) or `group`. */
  label: string;
  resources: Resource[];
}

/** The Group of every generated patient; member ids are rebuilt from the seed, not remembered. */
function group(shared: SharedData, key: number, opts: SeedOptions): Group {
  const ids = new IdFactory(new Rng(key, GROUP_NAMESPACE), key, GROUP_NAMESPACE);
  const member: NonNullable<Group['member']> = [];
  for (let i = 0; i < opts.patients; i++) member.push({ entity: { reference: `Patient/${patientStreams(key, i).ids.next()}` } });
  const owner = shared.resources.find((r) => r.resourceType === 'Organization');
  const out: Group = {
    resourceType: 'Group',
    id: ids.next(),
    identifier: [{ system: 'https://kiln.example/group', value: `seed-${opts.seed}-${opts.patients}` }],
    active: true,
    type: 'person',
    actual: true,
    name: `Kiln sample patients (seed ${opts.seed}, ${opts.patients} patients)`,
    quantity: opts.patients,
  };
  if (owner) out.managingEntity = { reference: `Organization/${owner.id}` };
  if (member.length > 0) out.member = member;
  return out;
}

function checkOptions(opts: SeedOptions): void {
  if (!Number.isSafeInteger(opts.patients) || opts.patients < 0 || opts.patients >= GROUP_NAMESPACE - 1) {
    throw new RangeError(`patients must be a whole number from 0, got ${opts.patients}`);
  }
  if (!Number.isSafeInteger(opts.seed)) throw new RangeError(`seed must be a whole number, got ${opts.seed}`);
}

/**
 * Generates the sample data lazily: first the shared batch (Organizations,
 * Practitioners, PractitionerRoles), then one batch per patient (Patient, Encounters,
 * Observations, Conditions, MedicationRequests, AllergyIntolerances, Immunizations,
 * Procedures, DiagnosticReports and a Provenance over the rest), and finally a batch
 * holding one Group (type person, actual) whose members are all generated patients.
 *
 * References inside a patient batch point only into that batch or the shared batch.
 *
 * @throws RangeError when `patients` or `seed` is not a usable whole number.
 */
export function* generateSeed(opts: SeedOptions): Generator<SeedBatch, void, undefined> {
  checkOptions(opts);
  // Any safe integer is a valid seed; fold it into the 32-bit key the generators use.
  const key = hashWords(opts.seed >>> 0, Math.floor(opts.seed / 2 ** 32) >>> 0);
  const shared = generateShared(key);
  yield { label: 'shared', resources: shared.resources };
  for (let i = 0; i < opts.patients; i++) {
    yield { label: `patient-${i + 1}`, resources: patientBatch(shared, key, i) };
  }
  yield { label: 'group', resources: [group(shared, key, opts)] };
}
