import { compileFast, type Accessor } from './fastpath.js';
import { compileWithEngine } from './fhirpath-eval.js';
import { ADDERS, dedupeFrom, KINDS_WRITTEN, type Adder } from './adders.js';
import { addCompositeRows } from './composite.js';
import { onRegistryChange, searchParamsFor, type SearchParamDef } from './registry.js';
import { COLUMN_PARAMS, emptyIndexRows, type IndexKind, type IndexRows } from './types.js';

/**
 * Index extraction: evaluates every search parameter of a resource's type and turns the
 * values into rows for the `search_*` tables (https://hl7.org/fhir/R4/search.html).
 * Expressions are compiled once per type, to fast JSON accessors where their shape
 * allows (see fastpath.ts) and to the FHIRPath engine otherwise.
 */

interface CompiledParam {
  def: SearchParamDef;
  code: string;
  add: Adder;
  kinds: IndexKind[];
  fast: Accessor | null;
  engine: () => Accessor;
}

const compiled = new Map<string, CompiledParam[]>();
onRegistryChange(() => compiled.clear());

/** Memoises the engine accessor: compiling FHIRPath costs milliseconds, only pay it when used. */
function lazyEngine(expression: string): () => Accessor {
  let acc: Accessor | undefined;
  return () => (acc ??= compileWithEngine(expression));
}

/** The indexed parameters of `resourceType`, compiled once. */
function compiledParams(resourceType: string): CompiledParam[] {
  let params = compiled.get(resourceType);
  if (params) return params;
  params = [];
  for (const def of searchParamsFor(resourceType)) {
    const add = ADDERS[def.type];
    // No rows here for: `special` ones (`near`) and those without an expression (`_text`,
    // `_content`, `_query`); `_id` and `_lastUpdated`, columns of `resources`; composites,
    // which get the rows of composite.ts; unions of others, answered from their rows
    // (union-params.ts).
    if (!add || !def.expression || COLUMN_PARAMS.has(def.code) || def.unionOf) continue;
    const fast = compileFast(def.expression, resourceType);
    params.push({ def, code: def.code, add, kinds: KINDS_WRITTEN[def.type]!, fast, engine: lazyEngine(def.expression) });
  }
  compiled.set(resourceType, params);
  return params;
}

/** Options of `extractIndexRows`. */
export interface ExtractOptions {
  /** `fhirpath` evaluates every expression with the FHIRPath engine (for tests); default `fast`. */
  engine?: 'fast' | 'fhirpath';
}

/**
 * The index rows of `resource` for every search parameter of its type.
 * See https://hl7.org/fhir/R4/search.html#ptypes for how each type of value is indexed.
 */
export function extractIndexRows(resource: { resourceType: string }, options: ExtractOptions = {}): IndexRows {
  const rows = emptyIndexRows();
  const useEngine = options.engine === 'fhirpath';
  const res = resource as unknown as Record<string, unknown>;
  const marks = [0, 0];
  for (const p of compiledParams(resource.resourceType)) {
    const values = (useEngine || !p.fast ? p.engine() : p.fast)(res);
    if (values.length === 0) continue;
    const kinds = p.kinds;
    for (let k = 0; k < kinds.length; k++) marks[k] = rows[kinds[k]].length;
    for (let i = 0; i < values.length; i++) p.add(rows, p.code, values[i]);
    for (let k = 0; k < kinds.length; k++) {
      const list = rows[kinds[k]] as object[];
      if (list.length - marks[k] > 1) dedupeFrom(list, marks[k]);
    }
  }
  addCompositeRows(rows, res, resource.resourceType, useEngine);
  return rows;
}

/** Which parameters of `resourceType` are indexed through the FHIRPath engine (no fast accessor). */
export function engineFallbacks(resourceType: string): SearchParamDef[] {
  return compiledParams(resourceType).filter((p) => !p.fast).map((p) => p.def);
}

/** The indexed parameters of `resourceType` (those that produce rows). */
export function indexedParams(resourceType: string): SearchParamDef[] {
  return compiledParams(resourceType).map((p) => p.def);
}
