import { fold, referenceTarget, stringParts, targetInterval, tokenFacets, valuesOf, type Criterion, type Json, type SearchCase, type TokenFacet, type Typed } from './oracle-eval.js';

/**
 * Searches for the oracle suite, drawn deterministically (a seeded generator, no
 * `Math.random`) with values taken from the data itself, plus some that match nothing.
 * Each case is kept as structured criteria, which the oracle evaluates, and as the query
 * string the server receives. Parameter types and modifiers follow
 * https://hl7.org/fhir/R4/search.html.
 */

const UCUM = 'http://unitsofmeasure.org';
const LOINC = 'http://loinc.org';

/**
 * A few hand-written resources next to the generated ones, for what the generator never
 * writes: accents, partial dates, open Periods, fractional seconds, codes without a
 * system, a Quantity with a unit but no code, a CodeableConcept with text only, absolute,
 * versioned and foreign references. `base` is the server's base URL.
 */
export const edgeResources = (base: string): Json[] => [
  {
    resourceType: 'Patient', id: 'edge-pt-1', active: false, gender: 'other', birthDate: '1970-05',
    name: [{ family: 'Núñez', given: ['José', 'Ángel'] }], address: [{ city: 'São Paulo' }], identifier: [{ value: 'NO-SYSTEM-1', type: { text: 'Legacy number' } }],
  },
  { resourceType: 'Patient', id: 'edge-pt-2', birthDate: '1815', name: [{ text: 'Ada Lovelace', family: 'Lovelace', prefix: ['Countess'] }] },
  {
    resourceType: 'Observation', id: 'edge-obs-1', status: 'preliminary',
    code: { coding: [{ code: 'local-1', display: 'Local code' }], text: 'Something local' },
    subject: { reference: 'Patient/edge-pt-1' }, effectivePeriod: { start: '2020-03-01', end: '2020-03-31' },
    valueQuantity: { value: 5.4, unit: 'mmol/L', system: UCUM, code: 'mmol/L' },
  },
  {
    resourceType: 'Observation', id: 'edge-obs-2', status: 'amended', code: { coding: [{ system: LOINC, code: '8867-4' }] },
    subject: { reference: 'Patient/edge-pt-2' }, effectivePeriod: { start: '2021-06-01T08:00:00+02:00' }, valueQuantity: { value: 72.5, unit: 'beats/min' },
  },
  {
    resourceType: 'Encounter', id: 'edge-enc-1', status: 'in-progress', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
    subject: { reference: 'Patient/edge-pt-1' }, period: { start: '2021-02-03T10:00:00Z' },
  },
  { resourceType: 'Condition', id: 'edge-cond-1', code: { text: 'Free-text only' }, subject: { reference: 'Patient/edge-pt-2' }, onsetPeriod: { start: '2019', end: '2019-06' } },
  {
    resourceType: 'Observation', id: 'edge-obs-3', status: 'final', code: { coding: [{ system: LOINC, code: '8867-4' }] },
    subject: { reference: `${base}/Patient/edge-pt-1` }, encounter: { reference: 'Encounter/edge-enc-1/_history/1' },
    effectiveDateTime: '2021-02-03T10:15:30.250Z', valueQuantity: { value: 61, unit: '/min', system: UCUM, code: '/min' },
  },
  {
    resourceType: 'Observation', id: 'edge-obs-4', status: 'final', code: { coding: [{ system: LOINC, code: '8867-4' }] },
    subject: { reference: 'http://other.example/fhir/Patient/edge-pt-1' }, effectiveDateTime: '2021-02-03',
  },
];

/**
 * Searches aimed at the corners of the specification that the hand-written resources
 * sit on, next to the drawn ones.
 */
const DIRECTED = [
  // Strings: accent- and case-insensitive prefix; :exact is neither; a HumanName's parts, text included.
  'Patient?family=nunez', 'Patient?family=NÚÑ', 'Patient?family:exact=Nunez', 'Patient?family:exact=Núñez', 'Patient?given=angel',
  'Patient?address-city=sao', 'Patient?address-city:contains=PAUL', 'Patient?name=ada lov', 'Patient?name=countess', 'Patient?name:contains=velac',
  // Tokens: no system; :text is a prefix search of CodeableConcept.text, Coding.display and Identifier.type.text.
  'Observation?code=|local-1', 'Observation?code=local-1', 'Observation?code=http://loinc.org|local-1', 'Patient?identifier=|NO-SYSTEM-1',
  'Patient?identifier:text=legacy', 'Patient?identifier:text=medical', 'Observation?code:text=something', 'Observation?code:text=LOCAL',
  'Observation?code:text=code', 'Condition?code:text=free', 'Condition?code:text=only',
  // :not takes in resources without a value; :missing.
  'Patient?gender:not=male', 'Patient?gender:not=male,female', 'Condition?category:not=encounter-diagnosis', 'Patient?active=false',
  'Patient?gender:missing=true', 'Condition?category:missing=true',
  // Dates: a partial date is a range; eq wants the target inside, ne/lt/gt overlap past the ends; open Periods.
  'Patient?birthdate=1970', 'Patient?birthdate=1970-05-10', 'Patient?birthdate=ne1970-05-10', 'Patient?birthdate=lt1970-05-10', 'Patient?birthdate=gt1970-05-10',
  'Patient?birthdate=1815', 'Patient?birthdate=ge1815-06', 'Patient?birthdate=sa1814', 'Patient?birthdate=sa1970-04', 'Patient?birthdate=eb1970-06',
  'Patient?birthdate=eb1970-05-31', 'Condition?onset-date=2019', 'Condition?onset-date=2019-03', 'Condition?onset-date=ge2019-06', 'Condition?onset-date=le2019-06',
  'Observation?date=ge2020-03-31', 'Observation?date=le2020-03-01', 'Observation?date=2020-03', 'Observation?date=gt2020-03-31',
  'Observation?date=sa2021-06-01T05:59:59Z', 'Observation?date=sa2021-06-01T06:00:00Z', 'Observation?date=2021-06-01', 'Observation?date=gt2021-06-01T07:00:00+02:00',
  'Encounter?date=eb2030', 'Encounter?date=gt2030', 'Encounter?date=lt2021-02-03T10:00:01Z', 'Encounter?date=ne2021',
  // A fraction of a second lies inside its second.
  'Observation?date=2021-02-03T10:15:30Z', 'Observation?date=eb2021-02-03T10:15:30Z', 'Observation?date=2021-02-03',
  // References: relative, absolute on this server, versioned; another server's match only by their URL.
  'Observation?patient=edge-pt-1', 'Observation?subject=Patient/edge-pt-1', 'Observation?encounter=Encounter/edge-enc-1', 'Observation?encounter=edge-enc-1',
  'Observation?subject=http://other.example/fhir/Patient/edge-pt-1',
  // Quantities: implicit precision, the unit matched by code or unit.
  'Observation?value-quantity=5.4', 'Observation?value-quantity=5.40|http://unitsofmeasure.org|mmol/L', 'Observation?value-quantity=5|http://unitsofmeasure.org|mmol/L',
  'Observation?value-quantity=72.5||beats/min', 'Observation?value-quantity=73||beats/min', 'Observation?value-quantity=72||beats/min',
  'Observation?value-quantity=ge72.5||beats/min', 'Observation?value-quantity=gt72.4||beats/min', 'Observation?value-quantity=ne73||beats/min',
];

/** A readable query (`Type?code:mod=a,b&…`, no escapes) as a case. */
export function parseCase(query: string): SearchCase {
  const [resourceType, params] = query.split('?');
  const criteria = params.split('&').map((p): Criterion => {
    const eq = p.indexOf('=');
    const [code, modifier] = p.slice(0, eq).split(':');
    return { code, values: p.slice(eq + 1).split(','), ...(modifier ? { modifier } : {}) };
  });
  return { resourceType, criteria };
}

/** mulberry32: a tiny seeded generator, enough to make the case list reproducible. */
export class Prng {
  constructor(private state: number) {}

  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = Math.imul(this.state ^ (this.state >>> 15), 1 | this.state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  chance(p: number): boolean {
    return this.next() < p;
  }
}

type Data = Map<string, Json[]>;
type Param = readonly [type: string, code: string];
type Gen = (rng: Prng, data: Data, type?: string) => Criterion[] | undefined;

const STRING_PARAMS: Param[] = [
  ['Patient', 'family'], ['Patient', 'given'], ['Patient', 'name'], ['Patient', 'address-city'], ['Patient', 'address-state'], ['Immunization', 'lot-number'],
];
const TOKEN_PARAMS: Param[] = [
  ['Patient', 'gender'], ['Patient', 'identifier'], ['Patient', 'active'], ['Patient', 'phone'], ['Patient', 'email'],
  ['Observation', 'code'], ['Observation', 'category'], ['Observation', 'status'], ['Observation', 'combo-code'], ['Observation', 'component-code'], ['Observation', 'value-concept'],
  ['Condition', 'code'], ['Condition', 'category'], ['Condition', 'clinical-status'], ['Condition', 'verification-status'],
  ['Encounter', 'class'], ['Encounter', 'type'], ['Encounter', 'status'], ['Encounter', 'reason-code'],
  ['MedicationRequest', 'code'], ['MedicationRequest', 'status'], ['MedicationRequest', 'intent'],
  ['Immunization', 'vaccine-code'], ['Immunization', 'status'], ['Procedure', 'code'], ['Procedure', 'status'],
  ['DiagnosticReport', 'code'], ['DiagnosticReport', 'category'], ['DiagnosticReport', 'status'],
  ['AllergyIntolerance', 'code'], ['AllergyIntolerance', 'clinical-status'], ['AllergyIntolerance', 'criticality'], ['AllergyIntolerance', 'category'],
];
const DATE_PARAMS: Param[] = [
  ['Patient', 'birthdate'], ['Observation', 'date'], ['Encounter', 'date'], ['Condition', 'onset-date'], ['Condition', 'abatement-date'], ['Condition', 'recorded-date'],
  ['MedicationRequest', 'authoredon'], ['Immunization', 'date'], ['Procedure', 'date'], ['DiagnosticReport', 'date'], ['DiagnosticReport', 'issued'], ['AllergyIntolerance', 'date'],
];
const QUANTITY_PARAMS: Param[] = [['Observation', 'value-quantity'], ['Observation', 'component-value-quantity']];
const REFERENCE_PARAMS: Param[] = [
  ['Patient', 'general-practitioner'], ['Patient', 'organization'], ['Observation', 'patient'], ['Observation', 'subject'], ['Observation', 'encounter'], ['Observation', 'performer'],
  ['Condition', 'patient'], ['Condition', 'encounter'], ['Encounter', 'patient'], ['Encounter', 'participant'], ['Encounter', 'service-provider'],
  ['MedicationRequest', 'patient'], ['MedicationRequest', 'requester'], ['Immunization', 'patient'], ['Immunization', 'performer'], ['Procedure', 'subject'],
  ['DiagnosticReport', 'patient'], ['DiagnosticReport', 'result'], ['AllergyIntolerance', 'patient'], ['AllergyIntolerance', 'recorder'],
];
const MISSING_PARAMS: Param[] = [
  ['Patient', 'gender'], ['Patient', 'identifier'], ['Observation', 'value-quantity'], ['Observation', 'component-code'], ['Observation', 'value-concept'], ['Observation', 'performer'],
  ['Observation', 'encounter'], ['Condition', 'abatement-date'], ['Condition', 'asserter'], ['Condition', 'category'], ['Encounter', 'reason-code'], ['Procedure', 'reason-reference'],
];
export const SEARCH_TYPES = ['Patient', 'Observation', 'Condition', 'Encounter', 'MedicationRequest', 'Immunization', 'Procedure', 'DiagnosticReport', 'AllergyIntolerance'];

/** Characters with a meaning inside a search value (https://hl7.org/fhir/R4/search.html#escaping): kept out of drawn values. */
const SPECIAL = /[,|$\\]/;

function pickParam(rng: Prng, params: Param[], type?: string): Param | undefined {
  const fit = type ? params.filter((p) => p[0] === type) : params;
  return fit.length > 0 ? rng.pick(fit) : undefined;
}

/** A value of `code` from a random resource that has one; the hand-written resources get a fair share of the draws. */
function drawValue(rng: Prng, data: Data, [type, code]: Param, accept: (v: Typed) => boolean = () => true): { resource: Json; value: Typed } | undefined {
  const all = data.get(type) ?? [];
  const edge = all.filter((r) => r.id.startsWith('edge-'));
  for (let i = 0; i < 40 && all.length > 0; i++) {
    const resource = edge.length > 0 && rng.chance(0.15) ? rng.pick(edge) : rng.pick(all);
    const values = valuesOf(resource, code).filter(accept);
    if (values.length > 0) return { resource, value: rng.pick(values) };
  }
  return undefined;
}

const one = (code: string, values: string[], modifier?: string): Criterion[] => [{ code, values, ...(modifier ? { modifier } : {}) }];

function varyCase(rng: Prng, s: string): string {
  const r = rng.int(4);
  return r === 0 ? s.toUpperCase() : r === 1 ? s.toLowerCase() : r === 2 ? fold(s) : s;
}

const stringCase: Gen = (rng, data, type) => {
  const param = pickParam(rng, STRING_PARAMS, type);
  if (!param) return undefined;
  if (rng.chance(0.08)) return one(param[1], ['Qzxv']);
  const drawPart = () => {
    const v = drawValue(rng, data, param);
    const parts = v ? stringParts(v.value).filter((p) => !SPECIAL.test(p) && p.length > 0) : [];
    return parts.length > 0 ? rng.pick(parts) : undefined;
  };
  const s = drawPart();
  if (!s) return undefined;
  const prefix = (x: string) => varyCase(rng, x.slice(0, 1 + rng.int(x.length)));
  switch (rng.int(5)) {
    case 0: return one(param[1], [rng.chance(0.7) ? s : rng.pick([s.toLowerCase(), fold(s), s.slice(0, -1)])], 'exact');
    case 1: {
      const from = rng.int(s.length);
      return one(param[1], [varyCase(rng, s.slice(from, from + 1 + rng.int(s.length - from)))], 'contains');
    }
    case 2: return one(param[1], [prefix(s), prefix(drawPart() ?? 'Qzxv')]);
    case 3: return [...one(param[1], [prefix(s)]), ...one(param[1], [prefix(drawPart() ?? s)])];
    default: return one(param[1], [prefix(s)]);
  }
};

/** A token value in one of the forms of https://hl7.org/fhir/R4/search.html#token. */
function tokenValue(rng: Prng, f: TokenFacet): string | undefined {
  if (f.code === undefined || SPECIAL.test(f.code) || (f.system && SPECIAL.test(f.system))) return undefined;
  if (!f.coded) return f.code;
  if (!f.system) return rng.chance(0.7) ? f.code : `|${f.code}`;
  return rng.pick([`${f.system}|${f.code}`, f.code, `|${f.code}`, `${f.system}|`, `${f.system}|${f.code}`]);
}

const tokenCase: Gen = (rng, data, type) => {
  const param = pickParam(rng, TOKEN_PARAMS, type);
  if (!param) return undefined;
  if (rng.chance(0.06)) return one(param[1], [rng.pick(['no-such-code', `${LOINC}|0000-0`, 'http://example.org/none|'])]);
  const drawFacet = () => {
    const v = drawValue(rng, data, param, (x) => tokenFacets(x).length > 0);
    return v ? rng.pick(tokenFacets(v.value)) : undefined;
  };
  const facet = drawFacet();
  if (!facet) return undefined;
  const roll = rng.int(10);
  if (roll === 0) {
    const texts = facet.texts.filter((t) => !SPECIAL.test(t));
    if (texts.length > 0) {
      const t = rng.pick(texts);
      return one(param[1], [varyCase(rng, t.slice(0, 2 + rng.int(t.length)))], 'text');
    }
  }
  const value = tokenValue(rng, facet);
  if (!value) return undefined;
  const other = drawFacet();
  const drawn = other ? tokenValue(rng, other) : undefined;
  const second = drawn === value ? undefined : drawn;
  if (roll <= 2) return one(param[1], second && rng.chance(0.3) ? [value, second] : [value], 'not');
  if (roll <= 4 && second) return one(param[1], [value, second]);
  return one(param[1], [value]);
};

/** A date text of a drawn value, cut to year, month, day or kept whole. */
function dateText(rng: Prng, v: Typed): string | undefined {
  let text: string | undefined;
  if (typeof v.value === 'string') text = v.value;
  else if (v.type === 'Period') {
    const p = v.value as { start?: string; end?: string };
    text = rng.chance(0.5) ? p.start ?? p.end : p.end ?? p.start;
  }
  if (!text) return undefined;
  const lengths = [4, 7, 10].filter((n) => n < text.length);
  const n = rng.pick([...lengths, text.length]);
  // A time needs its zone in a search value; keep whole timestamps whole.
  return n === text.length ? text : text.slice(0, n);
}

const PREFIXES = ['', 'eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb'];

const dateCase: Gen = (rng, data, type) => {
  const param = pickParam(rng, DATE_PARAMS, type);
  if (!param) return undefined;
  const draw = () => {
    const v = drawValue(rng, data, param, (x) => targetInterval(x) !== undefined);
    return v ? dateText(rng, v.value) : undefined;
  };
  const a = draw();
  if (!a) return undefined;
  if (rng.chance(0.04)) return one(param[1], [`${rng.pick(PREFIXES)}1066`]);
  const b = draw();
  if (b && rng.chance(0.2)) {
    const [lo, hi] = a <= b ? [a, b] : [b, a];
    return [...one(param[1], [`${rng.pick(['gt', 'ge', 'sa'])}${lo}`]), ...one(param[1], [`${rng.pick(['lt', 'le', 'eb'])}${hi}`])];
  }
  if (b && rng.chance(0.15)) return one(param[1], [`${rng.pick(PREFIXES)}${a}`, `${rng.pick(PREFIXES)}${b}`]);
  return one(param[1], [`${rng.pick(PREFIXES)}${a}`]);
};

const quantityCase: Gen = (rng, data, type) => {
  const param = pickParam(rng, QUANTITY_PARAMS, type);
  if (!param) return undefined;
  const v = drawValue(rng, data, param, (x) => typeof (x.value as { value?: unknown })?.value === 'number');
  if (!v) return undefined;
  const q = v.value.value as { value: number; system?: string; code?: string; unit?: string };
  const number = `${rng.pick(PREFIXES)}${q.value.toFixed(rng.int(3))}`;
  const unit = q.code ?? q.unit;
  const units = [''];
  if (unit && !SPECIAL.test(unit)) units.push(`|${q.system ?? UCUM}|${unit}`, `||${unit}`, `|${UCUM}|${unit === 'kg' ? 'g' : 'kg'}`);
  return one(param[1], [`${number}${rng.pick(units)}`]);
};

const referenceCase: Gen = (rng, data, type) => {
  const param = pickParam(rng, REFERENCE_PARAMS, type);
  if (!param) return undefined;
  const v = drawValue(rng, data, param, (x) => typeof (x.value as { reference?: unknown })?.reference === 'string');
  if (!v) return undefined;
  const target = referenceTarget((v.value.value as { reference: string }).reference);
  if (!target) return undefined;
  // An unknown id, with a target type the parameter allows (another type is a 400).
  if (rng.chance(0.06)) return one(param[1], [rng.pick([`${target.type}/no-such-id`, 'no-such-id'])]);
  const typed = `${target.base ? `${target.base}/` : ''}${target.type}/${target.id}`;
  return one(param[1], [rng.chance(0.7) ? typed : target.id]);
};

const idCase: Gen = (rng, data, type) => {
  const all = data.get(type ?? rng.pick(SEARCH_TYPES)) ?? [];
  if (all.length === 0) return undefined;
  const ids = Array.from({ length: 1 + rng.int(3) }, () => rng.pick(all).id);
  if (rng.chance(0.3)) ids.push('no-such-id');
  return one('_id', ids);
};

const missingCase: Gen = (rng, _data, type) => {
  const param = pickParam(rng, MISSING_PARAMS, type);
  return param ? one(param[1], [rng.pick(['true', 'false'])], 'missing') : undefined;
};

const GENERATORS: [Gen, number][] = [
  [stringCase, 12], [tokenCase, 22], [dateCase, 22], [quantityCase, 10], [referenceCase, 12], [idCase, 4], [missingCase, 6],
];
const TYPED = new Map<Gen, Param[]>([[stringCase, STRING_PARAMS], [tokenCase, TOKEN_PARAMS], [dateCase, DATE_PARAMS], [quantityCase, QUANTITY_PARAMS], [referenceCase, REFERENCE_PARAMS], [missingCase, MISSING_PARAMS]]);

function weighted(rng: Prng): Gen {
  let u = rng.int(GENERATORS.reduce((n, [, w]) => n + w, 0));
  for (const [gen, w] of GENERATORS) {
    if (u < w) return gen;
    u -= w;
  }
  return GENERATORS[0][0];
}

/** The resource type a generator's parameters can search, drawn. */
function typeFor(rng: Prng, gen: Gen): string {
  const params = TYPED.get(gen);
  return params ? rng.pick(params)[0] : rng.pick(SEARCH_TYPES);
}

/** The query string of a case, values percent-encoded one by one so that commas stay separators. */
export function queryOf(c: SearchCase): string {
  const params = c.criteria.map((k) => `${k.code}${k.modifier ? `:${k.modifier}` : ''}=${k.values.map(encodeURIComponent).join(',')}`);
  return `${c.resourceType}?${params.join('&')}`;
}

/** The same, readable, for failure reports. */
export function describeCase(c: SearchCase): string {
  return `${c.resourceType}?${c.criteria.map((k) => `${k.code}${k.modifier ? `:${k.modifier}` : ''}=${k.values.join(',')}`).join('&')}`;
}

/**
 * `count` distinct searches over `resources`: the directed ones, then drawn ones, of
 * which a quarter combine two criteria on one type (AND).
 */
export function generateCases(resources: Json[], count: number, seed: number): SearchCase[] {
  const data: Data = new Map();
  for (const r of resources) {
    if (!data.has(r.resourceType)) data.set(r.resourceType, []);
    data.get(r.resourceType)!.push(r);
  }
  const rng = new Prng(seed);
  const out = new Map<string, SearchCase>(DIRECTED.map((q) => [q, parseCase(q)]));
  for (let attempt = 0; out.size < count && attempt < count * 20; attempt++) {
    const gen = weighted(rng);
    const type = typeFor(rng, gen);
    const criteria = gen(rng, data, type);
    if (!criteria) continue;
    if (rng.chance(0.25)) {
      const more = weighted(rng)(rng, data, type);
      if (more) criteria.push(...more);
    }
    const c: SearchCase = { resourceType: type, criteria };
    out.set(describeCase(c), c);
  }
  return [...out.values()];
}
