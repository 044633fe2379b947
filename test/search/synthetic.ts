import { canonicalType, elementInfo, model } from '../../server/search/model.js';
import type { SearchParamDef } from '../../server/search/registry.js';
import { splitUnion } from '../../server/search/registry.js';

/**
 * Builds, for one search parameter, a resource that has a value on every path of the
 * parameter's expression — so the fast accessors and the FHIRPath engine can be compared
 * on every parameter, including those of types no real test data covers. The values are
 * made up but typed per the R4 model; with choice elements, every choice gets a value.
 */

type Obj = Record<string, unknown>;

const PRIMITIVES: Record<string, unknown> = {
  boolean: true, integer: 42, positiveInt: 3, unsignedInt: 0, decimal: 5.4, string: 'Ñúñez Sample',
  markdown: 'Some *text*', code: 'code-a', id: 'id-1', uri: 'http://example.org/uri', url: 'http://example.org/url',
  canonical: 'http://example.org/fhir/ValueSet/vs|1.2', oid: 'urn:oid:1.2.3', uuid: 'urn:uuid:c757873d-ec9a-4326-a141-556f43239520',
  date: '2020-02', dateTime: '2020-02-03T04:05:06+02:00', instant: '2020-02-03T04:05:06.789Z', time: '10:11:12', base64Binary: 'AAAA',
};

const quantity = (value: number): Obj => ({ value, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' });
const coding = (code: string): Obj => ({ system: 'http://example.org/cs', code, display: `Display ${code}` });

const COMPLEX: Record<string, () => unknown> = {
  Coding: () => coding('c1'),
  CodeableConcept: () => ({ coding: [coding('c1'), { code: 'no-system' }], text: 'Concept Text' }),
  Identifier: () => ({ system: 'http://example.org/ids', value: 'ID-1', type: { coding: [coding('MR')], text: 'Medical record' } }),
  HumanName: () => ({ family: 'Müller', given: ['Anna', 'Maria'], prefix: ['Dr.'], suffix: ['PhD'], text: 'Dr. Anna Maria Müller' }),
  Address: () => ({ line: ['1 Main St'], city: 'Springfield', district: 'D', state: 'MA', postalCode: '01027', country: 'US', text: '1 Main St' }),
  ContactPoint: () => ({ system: 'phone', value: '555-0100' }),
  Quantity: () => quantity(5.4),
  Money: () => ({ value: 12.5, currency: 'USD' }),
  Range: () => ({ low: quantity(1), high: quantity(2.5) }),
  Period: () => ({ start: '2020-01-01', end: '2020-06-30T12:00:00Z' }),
  Timing: () => ({ event: ['2020-01-05', '2020-03-01T10:00:00Z'], repeat: { boundsPeriod: { start: '2019-12-01' } } }),
  SampledData: () => ({ origin: quantity(0), period: 1, dimensions: 1, data: '1 2 3' }),
  Attachment: () => ({ url: 'http://example.org/attachment', title: 'A title' }),
  Resource: () => ({ resourceType: 'Composition', id: 'comp-1' }),
};

function sample(type: string, target: string): unknown[] {
  if (type === 'Reference') {
    // A relative, an absolute versioned and an identifier-only reference.
    return [{ reference: `${target}/r1` }, { reference: `http://example.org/fhir/${target}/r2/_history/3` }, { identifier: { system: 'http://example.org/ids', value: 'ref-id' } }];
  }
  for (let t: string | undefined = type; t; t = model.type2Parent[t]) {
    if (t in COMPLEX) return [COMPLEX[t]()];
  }
  return type in PRIMITIVES ? [PRIMITIVES[type]] : [{ id: 'element-1' }];
}

const FIELD = /^([a-z][A-Za-z0-9]*)(?:\[\d+\])?$/;
const RESOLVE = /^where\(resolve\(\) is ([A-Z][A-Za-z]*)\)$/;
const EQUALS = /^where\(([a-z][A-Za-z0-9]*)\s*=\s*'([^']*)'\)$/;
const OF_TYPE = /^(?:as|ofType)\(([A-Za-z]+)\)$/;

function segments(part: string): string[] {
  let p = part.trim();
  const exists = /^(.+)\.exists\(\) and .+$/.exec(p);
  if (exists) p = exists[1];
  const as = /^\((.+) as ([A-Za-z]+)\)(.*)$/.exec(p);
  if (as) p = `${as[1]}.ofType(${as[2]})${as[3]}`;
  return p.match(/(?:[^.(]|\([^)]*\))+/g) ?? [];
}

interface Cursor {
  obj: Obj;
  context: string;
}

/** Sets `key` on `obj` to `values` (an array when the element repeats) and returns the objects set. */
function put(obj: Obj, key: string, values: unknown[], repeating: boolean): unknown[] {
  const existing = obj[key];
  if (repeating) obj[key] = [...(Array.isArray(existing) ? existing : []), ...values];
  else obj[key] = values[0];
  return repeating ? values : [values[0]];
}

/** Fills one union member's path into `root`. */
function fillPart(root: Obj, resourceType: string, part: string, def: SearchParamDef, variant: number): void {
  const segs = segments(part);
  let cursor: Cursor = { obj: root, context: resourceType };
  if (segs[0] === resourceType || segs[0] === 'Resource' || segs[0] === 'DomainResource') cursor.context = segs.shift()!;
  for (let i = 0; i < segs.length; i++) {
    const field = FIELD.exec(segs[i]);
    if (!field) {
      const eq = EQUALS.exec(segs[i]);
      if (eq) cursor.obj[eq[1]] = eq[2];
      continue;
    }
    const filters = [];
    for (let j = i + 1; j < segs.length && !FIELD.test(segs[j]); j++) filters.push(segs[j]);
    const last = i + filters.length === segs.length - 1;
    const next = fillField(cursor, field[1], filters, last, def, variant);
    if (!next) return;
    cursor = next;
  }
}

function fillField(cursor: Cursor, name: string, filters: string[], last: boolean, def: SearchParamDef, variant: number): Cursor | null {
  const info = elementInfo(cursor.context, name);
  if (!info) return null;
  const repeating = Boolean(model.path2Repeating[`${cursor.context}.${name}`]);
  const ofType = filters.map((f) => OF_TYPE.exec(f)?.[1]).find(Boolean);
  const target = filters.map((f) => RESOLVE.exec(f)?.[1]).find(Boolean) ?? def.targets[0] ?? 'Patient';
  // Valid JSON has one key per choice element: `variant` picks which.
  const allowed = info.choices?.filter((c) => !ofType || canonicalType(c) === canonicalType(ofType));
  const choices = allowed ? [allowed[variant % allowed.length]] : [null];
  let cursorOut: Cursor | null = null;
  for (const choice of choices) {
    const type = choice ? canonicalType(choice) : info.type!;
    const key = choice ? name + choice : name;
    const isBackbone = type === 'BackboneElement' || type === 'Element';
    const values = last || !isBackbone ? sample(type, target) : [{}];
    const set = put(cursor.obj, key, values, repeating);
    for (const f of filters) {
      const eq = EQUALS.exec(f);
      if (eq) for (const v of set) if (v && typeof v === 'object') (v as Obj)[eq[1]] = eq[2];
    }
    const first = set[0];
    if (first && typeof first === 'object') cursorOut = { obj: first as Obj, context: isBackbone ? info.context! : type };
  }
  return cursorOut;
}

/**
 * Resources of `def.resourceType` with values on the paths of `def.expression`: one per
 * union member and choice type (valid JSON holds one type of a choice element at a time).
 */
export function syntheticResources(def: SearchParamDef): ({ resourceType: string } & Obj)[] {
  const out: ({ resourceType: string } & Obj)[] = [];
  for (const part of splitUnion(def.expression ?? '')) {
    for (let variant = 0; variant < 12; variant++) {
      const resource = { resourceType: def.resourceType, id: 'synthetic-1' } as { resourceType: string } & Obj;
      fillPart(resource, def.resourceType, part, def, variant);
      const json = JSON.stringify(resource);
      if (out.some((r) => JSON.stringify(r) === json)) break;
      out.push(resource);
    }
  }
  return out;
}
