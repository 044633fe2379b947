/**
 * AllergyIntolerance resources: a minority of patients have one or two allergies,
 * recorded at their first encounter in the generated window.
 */
import type { AllergyIntolerance } from 'fhir/r4';
import { concept, hl7, SNOMED, type Code } from './codes.js';
import { emit, ref, type PatientCtx, type Visit } from './context.js';
import { dateTime, MINUTE_MS, YEAR_MS } from './time.js';

type Category = NonNullable<AllergyIntolerance['category']>[number];

/** A SNOMED substance with its allergy category and the reaction it typically causes. */
interface Allergen extends Code {
  category: Category;
  reaction: Code;
}

const RASH: Code = { code: '271807003', display: 'Eruption of skin' };
const HIVES: Code = { code: '247472004', display: 'Wheal' };
const SNEEZING: Code = { code: '76067001', display: 'Sneezing' };
const ANAPHYLAXIS: Code = { code: '39579001', display: 'Anaphylaxis' };
const NAUSEA: Code = { code: '422587007', display: 'Nausea' };

const ALLERGENS: readonly Allergen[] = [
  { code: '764146007', display: 'Penicillin', category: 'medication', reaction: RASH },
  { code: '387207008', display: 'Ibuprofen', category: 'medication', reaction: HIVES },
  { code: '387458008', display: 'Aspirin', category: 'medication', reaction: HIVES },
  { code: '387406002', display: 'Sulfamethoxazole', category: 'medication', reaction: RASH },
  { code: '256349002', display: 'Peanut - dietary', category: 'food', reaction: ANAPHYLAXIS },
  { code: '102263004', display: 'Eggs (edible)', category: 'food', reaction: NAUSEA },
  { code: '3718001', display: "Cow's milk", category: 'food', reaction: NAUSEA },
  { code: '256259004', display: 'Pollen', category: 'environment', reaction: SNEEZING },
  { code: '264287008', display: 'Animal dander', category: 'environment', reaction: SNEEZING },
  { code: '260147004', display: 'House dust mite', category: 'environment', reaction: SNEEZING },
  { code: '111088007', display: 'Latex', category: 'environment', reaction: HIVES },
];

function allergy(ctx: PatientCtx, visit: Visit, a: Allergen): AllergyIntolerance {
  const severe = a.reaction === ANAPHYLAXIS;
  // Allergies are usually noticed in childhood or years before they are recorded here.
  const onset = Math.max(ctx.birthMs, visit.start - ctx.rng.int(1, 15) * YEAR_MS);
  return emit(ctx, {
    resourceType: 'AllergyIntolerance',
    id: ctx.ids.next(),
    clinicalStatus: hl7('allergyintolerance-clinical', 'active', 'Active'),
    verificationStatus: hl7('allergyintolerance-verification', 'confirmed', 'Confirmed'),
    type: 'allergy',
    category: [a.category],
    criticality: severe ? 'high' : 'low',
    code: concept(SNOMED, a),
    patient: ref(ctx.ref),
    encounter: ref(visit.ref),
    onsetDateTime: dateTime(onset),
    recordedDate: dateTime(visit.start + 5 * MINUTE_MS),
    recorder: ref(visit.clinician.ref),
    reaction: [{ manifestation: [concept(SNOMED, a.reaction)], severity: severe ? 'severe' : 'mild' }],
  });
}

/** Records 0–2 allergies at the visit (about 30% of patients have at least one). */
export function allergies(ctx: PatientCtx, visit: Visit): void {
  const { rng } = ctx;
  const count = rng.chance(0.3) ? (rng.chance(0.25) ? 2 : 1) : 0;
  for (const a of rng.sample(ALLERGENS, count)) allergy(ctx, visit, a);
}
