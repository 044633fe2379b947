/**
 * Code systems and the small clinical code lists the generator draws from.
 * Codes are standard public identifiers (SNOMED CT, LOINC, RxNorm, CVX); the selection,
 * prevalences and pairings are this project's own simplifications, not clinical advice.
 */
import type { CodeableConcept, Coding } from 'fhir/r4';

/** Code system URIs as FHIR R4 expects them in `Coding.system`. */
export const SNOMED = 'http://snomed.info/sct';
export const LOINC = 'http://loinc.org';
export const UCUM = 'http://unitsofmeasure.org';
export const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
export const CVX = 'http://hl7.org/fhir/sid/cvx';
export const NPI = 'http://hl7.org/fhir/sid/us-npi';
export const MRN_SYSTEM = 'https://kiln.example/mrn';
export const TERMINOLOGY = 'http://terminology.hl7.org/CodeSystem';

/** A code with its display, before it is wrapped in a Coding. */
export interface Code {
  code: string;
  display: string;
}

/** Wraps one code in a CodeableConcept whose text repeats the display, as most EHRs do. */
export function concept(system: string, c: Code): CodeableConcept {
  const coding: Coding = { system, code: c.code, display: c.display };
  return { coding: [coding], text: c.display };
}

/** A CodeableConcept from one of the `http://terminology.hl7.org/CodeSystem/*` systems. */
export function hl7(codeSystem: string, code: string, display: string): CodeableConcept {
  return { coding: [{ system: `${TERMINOLOGY}/${codeSystem}`, code, display }] };
}

/** Which patient trait a long-term condition stands for; vitals and labs read these. */
export type ChronicKey =
  | 'diabetes' | 'hypertension' | 'hyperlipidemia' | 'asthma' | 'copd' | 'depression' | 'anxiety'
  | 'hypothyroidism' | 'osteoarthritis' | 'gerd' | 'afib' | 'ckd' | 'migraine' | 'cad';

/** A long-term condition: who can get it and what it is usually treated with. */
export interface ChronicCondition extends Code {
  key: ChronicKey;
  minAge: number;
  /** Rough probability that an eligible patient has it by the reference date. */
  prevalence: number;
  meds: readonly Code[];
}

/** RxNorm ingredient-level codes, used as medicationCodeableConcept. */
export const MED = {
  metformin: { code: '6809', display: 'metformin' },
  lisinopril: { code: '29046', display: 'lisinopril' },
  amlodipine: { code: '17767', display: 'amlodipine' },
  hydrochlorothiazide: { code: '5487', display: 'hydrochlorothiazide' },
  atorvastatin: { code: '83367', display: 'atorvastatin' },
  simvastatin: { code: '36567', display: 'simvastatin' },
  levothyroxine: { code: '10582', display: 'levothyroxine' },
  albuterol: { code: '435', display: 'albuterol' },
  fluticasone: { code: '41126', display: 'fluticasone' },
  tiotropium: { code: '69120', display: 'tiotropium' },
  sertraline: { code: '36437', display: 'sertraline' },
  escitalopram: { code: '321988', display: 'escitalopram' },
  buspirone: { code: '1827', display: 'buspirone' },
  omeprazole: { code: '7646', display: 'omeprazole' },
  apixaban: { code: '1364430', display: 'apixaban' },
  metoprolol: { code: '6918', display: 'metoprolol' },
  sumatriptan: { code: '37418', display: 'sumatriptan' },
  naproxen: { code: '7258', display: 'naproxen' },
  acetaminophen: { code: '161', display: 'acetaminophen' },
  ibuprofen: { code: '5640', display: 'ibuprofen' },
  amoxicillin: { code: '723', display: 'amoxicillin' },
  azithromycin: { code: '18631', display: 'azithromycin' },
  nitrofurantoin: { code: '7454', display: 'nitrofurantoin' },
} as const satisfies Record<string, Code>;

/** The long-term conditions patients can develop. */
export const CHRONIC: readonly ChronicCondition[] = [
  { key: 'diabetes', code: '44054006', display: 'Diabetes mellitus type 2', minAge: 30, prevalence: 0.12, meds: [MED.metformin] },
  { key: 'hypertension', code: '38341003', display: 'Hypertensive disorder, systemic arterial', minAge: 25, prevalence: 0.3, meds: [MED.lisinopril, MED.amlodipine, MED.hydrochlorothiazide] },
  { key: 'hyperlipidemia', code: '55822004', display: 'Hyperlipidemia', minAge: 30, prevalence: 0.25, meds: [MED.atorvastatin, MED.simvastatin] },
  { key: 'asthma', code: '195967001', display: 'Asthma', minAge: 3, prevalence: 0.08, meds: [MED.albuterol, MED.fluticasone] },
  { key: 'copd', code: '13645005', display: 'Chronic obstructive lung disease', minAge: 45, prevalence: 0.05, meds: [MED.tiotropium] },
  { key: 'depression', code: '35489007', display: 'Depressive disorder', minAge: 14, prevalence: 0.08, meds: [MED.sertraline, MED.escitalopram] },
  { key: 'anxiety', code: '197480006', display: 'Anxiety disorder', minAge: 14, prevalence: 0.07, meds: [MED.buspirone] },
  { key: 'hypothyroidism', code: '40930008', display: 'Hypothyroidism', minAge: 20, prevalence: 0.05, meds: [MED.levothyroxine] },
  { key: 'osteoarthritis', code: '396275006', display: 'Osteoarthritis', minAge: 45, prevalence: 0.12, meds: [MED.naproxen] },
  { key: 'gerd', code: '235595009', display: 'Gastroesophageal reflux disease', minAge: 20, prevalence: 0.08, meds: [MED.omeprazole] },
  { key: 'afib', code: '49436004', display: 'Atrial fibrillation', minAge: 55, prevalence: 0.05, meds: [MED.apixaban, MED.metoprolol] },
  { key: 'ckd', code: '433144002', display: 'Chronic kidney disease stage 3', minAge: 50, prevalence: 0.04, meds: [] },
  { key: 'migraine', code: '37796009', display: 'Migraine', minAge: 12, prevalence: 0.06, meds: [MED.sumatriptan] },
  { key: 'cad', code: '53741008', display: 'Coronary arteriosclerosis', minAge: 50, prevalence: 0.06, meds: [MED.metoprolol] },
];

/** A short illness seen at a sick visit; `med` is the usual prescription, if any. */
export interface AcuteCondition extends Code {
  med?: Code;
  /** Procedure usually done at the same visit, if any. */
  procedure?: Code;
}

/** SNOMED procedures done at visits. */
export const PROCEDURE = {
  medReconciliation: { code: '430193006', display: 'Medication reconciliation' },
  depressionScreening: { code: '171207006', display: 'Depression screening' },
  colonoscopy: { code: '73761001', display: 'Colonoscopy' },
  mammography: { code: '71651007', display: 'Mammography' },
  chestXray: { code: '399208008', display: 'Plain chest X-ray' },
  ecg: { code: '29303009', display: 'Electrocardiographic procedure' },
  throatCulture: { code: '117015009', display: 'Throat culture' },
  appendectomy: { code: '80146002', display: 'Appendectomy' },
} as const satisfies Record<string, Code>;

/** Short illnesses seen at sick visits (and, partly, in the emergency department). */
export const ACUTE: readonly AcuteCondition[] = [
  { code: '444814009', display: 'Viral sinusitis' },
  { code: '195662009', display: 'Acute viral pharyngitis', med: MED.acetaminophen, procedure: PROCEDURE.throatCulture },
  { code: '43878008', display: 'Streptococcal sore throat', med: MED.amoxicillin, procedure: PROCEDURE.throatCulture },
  { code: '10509002', display: 'Acute bronchitis', procedure: PROCEDURE.chestXray },
  { code: '385093006', display: 'Community acquired pneumonia', med: MED.azithromycin, procedure: PROCEDURE.chestXray },
  { code: '68566005', display: 'Urinary tract infectious disease', med: MED.nitrofurantoin },
  { code: '65363002', display: 'Otitis media', med: MED.amoxicillin },
  { code: '25064002', display: 'Headache', med: MED.ibuprofen },
  { code: '161891005', display: 'Backache', med: MED.naproxen },
  { code: '44465007', display: 'Sprain of ankle', med: MED.ibuprofen },
  { code: '25374005', display: 'Gastroenteritis' },
];

/** Reasons for a hospital admission: pneumonia (from the list above) and appendicitis. */
export const INPATIENT_REASONS: readonly AcuteCondition[] = [
  ACUTE.find((a) => a.code === '385093006')!,
  { code: '74400008', display: 'Appendicitis', procedure: PROCEDURE.appendectomy },
];

/** Reasons for an emergency visit, drawn from the acute list. */
export const EMERGENCY_REASONS: readonly AcuteCondition[] = ACUTE.filter((a) =>
  ['385093006', '10509002', '161891005', '44465007', '25064002', '25374005'].includes(a.code),
);

/** SNOMED encounter types paired with their v3 ActCode class. */
export const ENCOUNTER_KIND = {
  checkup: { code: '185349003', display: 'Encounter for check up', cls: 'AMB' },
  symptom: { code: '185345009', display: 'Encounter for symptom', cls: 'AMB' },
  followUp: { code: '390906007', display: 'Follow-up encounter', cls: 'AMB' },
  emergency: { code: '50849002', display: 'Emergency room admission', cls: 'EMER' },
  inpatient: { code: '32485007', display: 'Hospital admission', cls: 'IMP' },
} as const;

/** The kinds of visit the scheduler plans. */
export type EncounterKind = keyof typeof ENCOUNTER_KIND;

/** Displays of the v3 ActCode encounter classes used. */
export const ENCOUNTER_CLASS_DISPLAY: Record<string, string> = {
  AMB: 'ambulatory',
  EMER: 'emergency',
  IMP: 'inpatient encounter',
};

/** SNOMED tobacco smoking status findings with their relative frequency. */
export const SMOKING_STATUS: readonly (Code & { weight: number })[] = [
  { code: '266919005', display: 'Never smoked tobacco', weight: 0.62 },
  { code: '8517006', display: 'Ex-smoker', weight: 0.22 },
  { code: '449868002', display: 'Smokes tobacco daily', weight: 0.11 },
  { code: '428041000124106', display: 'Occasional tobacco smoker', weight: 0.05 },
];
