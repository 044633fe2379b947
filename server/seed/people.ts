/**
 * Small builders for the demographic parts shared by Patients, Practitioners and
 * Organizations: names, addresses, phone numbers and NPI identifiers.
 */
import type { Address, ContactPoint, HumanName } from 'fhir/r4';
import type { Rng } from './prng.js';
import { FAMILY, GIVEN_FEMALE, GIVEN_MALE, STREETS, STREET_KINDS, TOWNS, type Town } from './tables.js';

/** Administrative gender of generated people; only the two most common values are used. */
export type Sex = 'male' | 'female';

/** A random given name matching the administrative gender. */
export function givenName(rng: Rng, gender: Sex): string {
  return rng.pick(gender === 'female' ? GIVEN_FEMALE : GIVEN_MALE);
}

/** An official name; `prefix` is used for clinicians ("Dr."). */
export function personName(rng: Rng, gender: Sex, prefix?: string): HumanName {
  const given = [givenName(rng, gender)];
  // About a third of people have a recorded middle name, which exercises multi-given search.
  if (rng.chance(0.35)) given.push(givenName(rng, gender));
  const name: HumanName = { use: 'official', family: rng.pick(FAMILY), given };
  if (prefix) name.prefix = [prefix];
  return name;
}

/** A US street address in an invented town (the town is chosen if not given). */
export function address(rng: Rng, use: Address['use'], town: Town = rng.pick(TOWNS)): Address {
  const line = `${rng.int(1, 9899)} ${rng.pick(STREETS)} ${rng.pick(STREET_KINDS)}`;
  return {
    use,
    type: 'physical',
    line: [line],
    city: town.city,
    state: town.state,
    postalCode: `${town.zip3}${String(rng.int(1, 99)).padStart(2, '0')}`,
    country: 'US',
  };
}

/** A phone number in the 555 range, which North American numbering reserves for fiction. */
export function phone(rng: Rng, use: ContactPoint['use']): ContactPoint {
  const value = `555-${rng.int(200, 999)}-${String(rng.int(0, 9999)).padStart(4, '0')}`;
  return { system: 'phone', value, use };
}

/** An e-mail address under example.com, a domain reserved for documentation. */
export function email(name: HumanName, suffix: number): ContactPoint {
  const local = `${name.given?.[0] ?? 'user'}.${name.family ?? 'kiln'}${suffix}`.toLowerCase();
  return { system: 'email', value: `${local}@example.com`, use: 'home' };
}

/**
 * A 10-digit NPI-shaped number with a valid check digit (Luhn over the "80840" prefix,
 * as the NPI standard specifies), so clients that verify NPIs accept it.
 */
export function npi(rng: Rng): string {
  const digits = [rng.int(1, 2)];
  for (let i = 1; i < 9; i++) digits.push(rng.int(0, 9));
  // 24 is the pre-computed Luhn contribution of the 80840 prefix.
  let sum = 24;
  digits.forEach((d, i) => {
    // Counting from the check digit leftwards, the odd positions (even i here) are doubled.
    const v = i % 2 === 0 ? d * 2 : d;
    sum += v > 9 ? v - 9 : v;
  });
  return digits.join('') + String((10 - (sum % 10)) % 10);
}
