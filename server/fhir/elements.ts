import { definitions, type TypeInfo } from '../validate/definitions.js';

/** What the server needs to know about a resource type's top-level elements. */
export interface TopLevelElements {
  /** Element names marked `isSummary` (choice types by their prefix, `value` for `value[x]`). */
  summary: Set<string>;
  /** Element names with `min > 0`. */
  mandatory: Set<string>;
  /** Choice-type prefixes (`value` for `value[x]`). */
  choices: Set<string>;
}

const cache = new Map<string, TopLevelElements | undefined>();

/**
 * Top-level element facts per resource type, from the same official R4 definitions the
 * validator loads (inherited elements of Resource and DomainResource included).
 * See: https://hl7.org/fhir/R4/elementdefinition-definitions.html#ElementDefinition.isSummary
 */
export function topLevelElements(resourceType: string): TopLevelElements | undefined {
  if (!cache.has(resourceType)) cache.set(resourceType, build(resourceType));
  return cache.get(resourceType);
}

function build(resourceType: string): TopLevelElements | undefined {
  const { types } = definitions();
  if (types.get(resourceType)?.kind !== 'resource') return undefined;
  const facts: TopLevelElements = { summary: new Set(), mandatory: new Set(), choices: new Set() };
  for (let t: TypeInfo | undefined = types.get(resourceType); t; t = t.base ? types.get(t.base) : undefined) {
    for (const el of t.elements) {
      if (el.rel === '' || el.rel.includes('.')) continue;
      const name = el.rel.replace('[x]', '');
      if (el.rel.endsWith('[x]')) facts.choices.add(name);
      if (el.isSummary) facts.summary.add(name);
      if ((el.min ?? 0) > 0) facts.mandatory.add(name);
    }
  }
  return facts;
}

/** The element a JSON property belongs to: `valueQuantity` → `value` when value[x] exists. */
export function elementOf(facts: TopLevelElements, jsonName: string): string {
  const name = jsonName.startsWith('_') ? jsonName.slice(1) : jsonName;
  if (facts.summary.has(name) || facts.mandatory.has(name)) return name;
  for (const c of facts.choices) if (name.startsWith(c) && /^[A-Z]/.test(name.slice(c.length))) return c;
  return name;
}
