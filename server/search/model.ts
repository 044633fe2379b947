import r4model from 'fhirpath/fhir-context/r4';

/**
 * The R4 structure facts the search code needs (element types, choice types, the type
 * hierarchy), taken from the model that ships with the `fhirpath` package so the fast
 * accessors and the FHIRPath engine agree on what every path means.
 *
 * See: https://hl7.org/fhir/R4/datatypes.html and https://hl7.org/fhir/R4/formats.html#choice
 */
export const model = r4model;

const PRIMITIVES = new Set([
  'base64Binary', 'boolean', 'canonical', 'code', 'date', 'dateTime', 'decimal', 'id', 'instant',
  'integer', 'markdown', 'oid', 'positiveInt', 'string', 'time', 'unsignedInt', 'uri', 'url', 'uuid', 'xhtml',
]);

/** FHIRPath system types mapped to the FHIR primitive that carries them. */
const SYSTEM_TYPES: Record<string, string> = {
  String: 'string', Boolean: 'boolean', Decimal: 'decimal', Integer: 'integer',
  Date: 'date', DateTime: 'dateTime', Time: 'time', Quantity: 'Quantity',
};

/**
 * One spelling for a type name, whatever produced it: `FHIR.string`, `System.String`,
 * the `String` of a choice suffix (`valueString`) and `string` all become `string`.
 */
export function canonicalType(name: string): string {
  if (name.startsWith('FHIR.')) return name.slice(5);
  if (name.startsWith('System.')) return SYSTEM_TYPES[name.slice(7)] ?? name.slice(7);
  const lower = name.charAt(0).toLowerCase() + name.slice(1);
  return PRIMITIVES.has(lower) ? lower : name;
}

/** True when `type` is `ancestor` or derives from it (Age → Quantity, Patient → DomainResource). */
export function isTypeOf(type: string, ancestor: string): boolean {
  for (let t: string | undefined = type; t; t = model.type2Parent[t]) {
    if (t === ancestor) return true;
  }
  return false;
}

let resourceTypes: string[] | undefined;

/** Every concrete R4 resource type (abstract Resource and DomainResource excluded). */
export function allResourceTypes(): string[] {
  resourceTypes ??= Object.keys(model.type2Parent)
    .filter((t) => t !== 'Resource' && t !== 'DomainResource' && isTypeOf(t, 'Resource'))
    .sort();
  return resourceTypes;
}

/**
 * What an element path leads to: `type` is the element's type (null for choice elements,
 * which list their `choices` instead) and `context` the path prefix under which its own
 * children are described (`Observation.component` for backbone elements, the type name
 * for data types, the referenced definition for recursive elements like
 * `Questionnaire.item.item`).
 */
export interface ElementInfo {
  type: string | null;
  context: string | null;
  choices: string[] | null;
}

/** Looks up `<context>.<name>` in the model; undefined when no such element exists. */
export function elementInfo(context: string, name: string): ElementInfo | undefined {
  let path = `${context}.${name}`;
  const choices = model.choiceTypePaths[path];
  if (choices) return { type: null, context: null, choices };
  const elsewhere = model.pathsDefinedElsewhere[path];
  if (elsewhere) path = elsewhere;
  const raw = model.path2Type[path];
  if (raw === undefined) return undefined;
  if (raw === 'BackboneElement' || raw === 'Element') return { type: raw, context: path, choices: null };
  const type = canonicalType(raw);
  return { type, context: type, choices: null };
}
