/**
 * The shared batch: Organizations, Practitioners and PractitionerRoles that every
 * patient batch refers to. It depends only on the seed, never on the patient count,
 * which is what keeps patient batches prefix-stable.
 */
import type { Organization, Practitioner, PractitionerRole, Resource } from 'fhir/r4';
import { concept, hl7, NPI, SNOMED, type Code } from './codes.js';
import { IdFactory, SHARED_NAMESPACE } from './ids.js';
import { address, phone, npi, personName, type Sex } from './people.js';
import { Rng } from './prng.js';
import { FACILITIES, TOWNS } from './tables.js';

/** What patient batches need to know about a clinician. */
export interface Clinician {
  ref: string;
  specialty: 'general' | 'internal' | 'pediatrics' | 'cardiology' | 'emergency';
}

/** What patient batches need to know about a facility and its staff. */
export interface Facility {
  ref: string;
  hospital: boolean;
  clinicians: Clinician[];
}

/** The shared resources plus the lookup tables the patient generator uses. */
export interface SharedData {
  resources: Resource[];
  facilities: Facility[];
}

const SPECIALTY: Record<Clinician['specialty'], Code> = {
  general: { code: '394814009', display: 'General practice' },
  internal: { code: '419192003', display: 'Internal medicine' },
  pediatrics: { code: '394537008', display: 'Pediatric specialty' },
  cardiology: { code: '394579002', display: 'Cardiology' },
  emergency: { code: '773568002', display: 'Emergency medicine' },
};

// Hospitals need emergency and specialist staff; clinics need primary care for every age.
const HOSPITAL_STAFF: Clinician['specialty'][] = ['emergency', 'emergency', 'internal', 'cardiology', 'general'];
const CLINIC_STAFF: Clinician['specialty'][] = ['general', 'general', 'internal', 'pediatrics'];

function organization(rng: Rng, id: string, index: number): Organization {
  const facility = FACILITIES[index % FACILITIES.length]!;
  return {
    resourceType: 'Organization',
    id,
    identifier: [{ system: NPI, value: npi(rng) }],
    active: true,
    type: [hl7('organization-type', 'prov', 'Healthcare Provider')],
    name: facility.name,
    telecom: [phone(rng, 'work')],
    address: [address(rng, 'work', TOWNS[(index * 5) % TOWNS.length])],
  };
}

function practitioner(rng: Rng, id: string): Practitioner {
  const gender: Sex = rng.chance(0.5) ? 'female' : 'male';
  return {
    resourceType: 'Practitioner',
    id,
    identifier: [{ system: NPI, value: npi(rng) }],
    active: true,
    name: [personName(rng, gender, 'Dr.')],
    telecom: [phone(rng, 'work')],
    gender,
  };
}

function role(id: string, practitionerRef: string, orgRef: string, specialty: Clinician['specialty']): PractitionerRole {
  return {
    resourceType: 'PractitionerRole',
    id,
    active: true,
    practitioner: { reference: practitionerRef },
    organization: { reference: orgRef },
    code: [hl7('practitioner-role', 'doctor', 'Doctor')],
    specialty: [concept(SNOMED, SPECIALTY[specialty])],
  };
}

/**
 * Builds the shared batch for a seed: one Organization per fictional facility, its
 * Practitioners, and a PractitionerRole linking each Practitioner to its Organization.
 */
export function generateShared(seed: number): SharedData {
  const rng = new Rng(seed, SHARED_NAMESPACE);
  const ids = new IdFactory(rng, seed, SHARED_NAMESPACE);
  const resources: Resource[] = [];
  const facilities: Facility[] = [];
  FACILITIES.forEach((f, index) => {
    const org = organization(rng, ids.next(), index);
    const orgRef = `Organization/${org.id}`;
    resources.push(org);
    const clinicians: Clinician[] = [];
    for (const specialty of f.hospital ? HOSPITAL_STAFF : CLINIC_STAFF) {
      const doc = practitioner(rng, ids.next());
      const docRef = `Practitioner/${doc.id}`;
      resources.push(doc, role(ids.next(), docRef, orgRef, specialty));
      clinicians.push({ ref: docRef, specialty });
    }
    facilities.push({ ref: orgRef, hospital: f.hospital, clinicians });
  });
  return { resources, facilities };
}
