/**
 * Demographic tables written for this project (no third-party data sets).
 * Names are common enough to look real and varied enough that 20 sample patients
 * do not all share a surname; towns are invented, paired with real state codes.
 */

/** Given names by administrative gender. */
export const GIVEN_FEMALE = [
  'Ada', 'Alice', 'Amara', 'Anna', 'Beatrice', 'Carmen', 'Chloe', 'Clara', 'Daniela', 'Elena',
  'Emily', 'Eva', 'Fatima', 'Grace', 'Hana', 'Helen', 'Ingrid', 'Isabel', 'Jade', 'Julia',
  'Keiko', 'Laura', 'Leah', 'Lucia', 'Maya', 'Mei', 'Nadia', 'Naomi', 'Olivia', 'Priya',
  'Rosa', 'Ruth', 'Sara', 'Sofia', 'Tara', 'Vera', 'Yara', 'Zoe',
] as const;

export const GIVEN_MALE = [
  'Aaron', 'Adam', 'Ahmed', 'Andre', 'Arjun', 'Ben', 'Carlos', 'Daniel', 'David', 'Diego',
  'Elias', 'Ethan', 'Felix', 'Gabriel', 'George', 'Hiro', 'Ivan', 'Jack', 'James', 'Jonas',
  'Kwame', 'Leo', 'Liam', 'Lucas', 'Marco', 'Mateo', 'Noah', 'Omar', 'Oscar', 'Paul',
  'Rafael', 'Samuel', 'Tariq', 'Theo', 'Victor', 'Wei', 'Yusuf', 'Zane',
] as const;

/** Family names from many origins, as in a mixed US population. */
export const FAMILY = [
  'Abbott', 'Alvarez', 'Anderson', 'Bakker', 'Banerjee', 'Bennett', 'Brooks', 'Campbell', 'Castillo',
  'Chen', 'Clarke', 'Cohen', 'Diaz', 'Dubois', 'Edwards', 'Evans', 'Fischer', 'Flores', 'Foster',
  'Garcia', 'Gordon', 'Gupta', 'Hansen', 'Harris', 'Hayes', 'Hughes', 'Ibrahim', 'Jensen', 'Johnson',
  'Kim', 'Kowalski', 'Larsen', 'Lee', 'Lopez', 'Mbeki', 'Morales', 'Murphy', 'Nakamura', 'Nguyen',
  'Novak', 'Okafor', 'Olsen', 'Owens', 'Patel', 'Perez', 'Petrov', 'Quinn', 'Ramirez', 'Reyes',
  'Rossi', 'Sato', 'Schmidt', 'Silva', 'Singh', 'Sullivan', 'Tanaka', 'Torres', 'Turner', 'Walsh',
  'Watson', 'Weber', 'Williams', 'Wong', 'Young', 'Zimmerman',
] as const;

/** Street names and kinds, combined at random into address lines. */
export const STREETS = [
  'Alder', 'Birch', 'Cedar', 'Chestnut', 'Elm', 'Hawthorn', 'Hickory', 'Juniper', 'Laurel', 'Linden',
  'Magnolia', 'Maple', 'Oak', 'Pine', 'Poplar', 'Rowan', 'Spruce', 'Sycamore', 'Walnut', 'Willow',
  'Lake', 'Hill', 'River', 'Meadow', 'Orchard', 'Mill', 'Park', 'Station', 'Harbor', 'Ridge',
] as const;

export const STREET_KINDS = ['Street', 'Avenue', 'Road', 'Lane', 'Drive', 'Court', 'Way', 'Boulevard'] as const;

/** An invented town with a real state code and a plausible 3-digit ZIP prefix. */
export interface Town {
  city: string;
  state: string;
  zip3: string;
}

/** Towns used for patient and facility addresses. */
export const TOWNS: readonly Town[] = [
  { city: 'Ashbury', state: 'MA', zip3: '017' },
  { city: 'Brindle Falls', state: 'NY', zip3: '128' },
  { city: 'Cedar Hollow', state: 'PA', zip3: '173' },
  { city: 'Dunmore Bay', state: 'ME', zip3: '040' },
  { city: 'Elkford', state: 'OH', zip3: '436' },
  { city: 'Fernvale', state: 'NC', zip3: '275' },
  { city: 'Granite Point', state: 'CO', zip3: '805' },
  { city: 'Harlow Springs', state: 'TX', zip3: '786' },
  { city: 'Ironwood Flats', state: 'MN', zip3: '556' },
  { city: 'Juniper Ridge', state: 'OR', zip3: '973' },
  { city: 'Kestrel Lake', state: 'WI', zip3: '545' },
  { city: 'Larkmoor', state: 'VA', zip3: '229' },
  { city: 'Millbrook Crossing', state: 'IL', zip3: '612' },
  { city: 'Northgate', state: 'WA', zip3: '983' },
  { city: 'Oakhaven', state: 'GA', zip3: '306' },
  { city: 'Pinecrest', state: 'AZ', zip3: '863' },
];

/** Fictional facilities for the shared batch; the generator pairs each with a town. */
export const FACILITIES = [
  { name: 'Kiln General Hospital', hospital: true },
  { name: 'Riverside Community Hospital', hospital: true },
  { name: 'Ashbury Family Medicine', hospital: false },
  { name: 'Northgate Primary Care Clinic', hospital: false },
  { name: 'Pinecrest Health Center', hospital: false },
  { name: 'Oakhaven Medical Group', hospital: false },
] as const;
