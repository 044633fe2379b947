import type { CapabilityStatementRestResource } from 'fhir/r4';
import { isIndexableComposite } from '../composite.js';
import { isReady, readinessVersion } from '../readiness.js';
import { registryGeneration, searchableResourceTypes, searchParamsFor, type SearchParamDef } from '../registry.js';
import { UNSUPPORTED_PARAMS } from './params.js';
import { indexKindOf } from '../types.js';

/**
 * What the CapabilityStatement says about searching each type, generated from the
 * registry so it lists exactly what the query side answers: the parameters, and the
 * `_include` / `_revinclude` values
 * (https://hl7.org/fhir/R4/capabilitystatement-definitions.html#CapabilityStatement.rest.resource.searchParam).
 * A parameter whose index is being rebuilt (see readiness.ts) is left out until it is ready.
 */

/** The search members of `CapabilityStatement.rest.resource`. */
export type SearchCapabilities = Pick<CapabilityStatementRestResource, 'searchParam' | 'searchInclude' | 'searchRevInclude'>;

/** True when the query side can answer the parameter (`near`, `_text`, … cannot). */
export function isSupported(def: SearchParamDef): boolean {
  if (def.code === '_id' || def.code === '_lastUpdated') return true;
  if (def.type === 'composite') return isIndexableComposite(def);
  return indexKindOf(def.type) !== undefined && def.expression !== undefined && !UNSUPPORTED_PARAMS.has(def.code);
}

/** Supported, and its index complete. */
function isListed(def: SearchParamDef): boolean {
  return isSupported(def) && isReady(def.resourceType, def.code) && (def.component ?? []).every((c) => c.code === undefined || isReady(def.resourceType, c.code));
}

/**
 * What the search facts depend on besides the route table: the definitions and which
 * parameters are ready. A cache of the CapabilityStatement keys on it.
 */
export function searchCapabilitiesKey(): string {
  return `${registryGeneration()}.${readinessVersion()}`;
}

let revIncludes: { key: string; byTarget: Map<string, string[]> } | undefined;

/** `Source:param` for every reference parameter, keyed by each type it may point at. */
function buildRevIncludes(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const all = searchableResourceTypes();
  for (const source of all) {
    for (const def of searchParamsFor(source)) {
      if (def.type !== 'reference' || !isListed(def)) continue;
      for (const target of def.targets.length > 0 ? def.targets : all) {
        out.set(target, [...(out.get(target) ?? []), `${source}:${def.code}`]);
      }
    }
  }
  return out;
}

/** The search facts of one type's `CapabilityStatement.rest.resource`. */
export function searchCapabilities(type: string): SearchCapabilities {
  const defs = searchParamsFor(type).filter(isListed);
  const key = searchCapabilitiesKey();
  if (revIncludes?.key !== key) revIncludes = { key, byTarget: buildRevIncludes() };
  const searchParam: NonNullable<SearchCapabilities['searchParam']> = defs.map((d) => ({ name: d.code, definition: d.url, type: d.type as 'token' }));
  // `_list` has no SearchParameter in R4; it is answered from List's own `item` rows.
  if (isReady('List', 'item')) searchParam.push({ name: '_list', type: 'special', documentation: LIST_DOCUMENTATION });
  return {
    searchInclude: ['*', ...defs.filter((d) => d.type === 'reference').map((d) => `${type}:${d.code}`)],
    searchRevInclude: revIncludes.byTarget.get(type) ?? [],
    searchParam,
  };
}

const LIST_DOCUMENTATION = 'The resources of this type that List/[id] refers to in entry.item (https://hl7.org/fhir/R4/search.html#list); functional lists such as $current-allergies are not supported.';
