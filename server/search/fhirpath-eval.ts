import fhirpath from 'fhirpath';
import { canonicalType, model } from './model.js';
import { referenceTargetType } from './reference.js';
import { splitUnion } from './registry.js';
import type { Accessor } from './fastpath.js';
import type { TypedValue } from './types.js';

/**
 * Evaluates search parameter expressions with the `fhirpath` engine: the reference
 * semantics the fast accessors are tested against, and the fallback for expressions they
 * do not compile. Two R4-isms are rewritten first (https://hl7.org/fhir/R4/fhirpath.html):
 *
 * - `resolve() is T` would fetch the target; indexing only needs the reference's type,
 *   so it becomes `kilnRefType() = 'T'`, answered from the reference itself.
 * - `x as T` on a collection is an error in FHIRPath 2, while R4 definitions use it to
 *   pick one type of a choice from many items (`Observation.component.value as Quantity`):
 *   it becomes `ofType(T)`, which is what the definitions mean (and what R5 writes).
 */

const userInvocationTable = {
  kilnRefType: {
    fn: (inputs: unknown[]) => inputs.map((i) => referenceTargetType(i)).filter((t): t is string => t !== null),
    arity: { 0: [] as [] },
  },
};

const AS_OPERATOR = /^\((.+) as ([A-Za-z]+)\)(.*)$/;

/** The FHIRPath-2-valid form of one R4 union member. */
export function rewriteForEngine(part: string): string {
  let p = part.trim();
  const m = AS_OPERATOR.exec(p);
  if (m) p = `${m[1].trim()}.ofType(${m[2]})${m[3]}`;
  return p.replace(/\.as\(([A-Za-z]+)\)/g, '.ofType($1)').replace(/resolve\(\) is ([A-Z][A-Za-z]*)/g, "kilnRefType() = '$1'");
}

/** Unwraps what the engine returns (ResourceNodes, wrapped decimals) into plain JSON values. */
function plain(x: unknown): unknown {
  if (x !== null && typeof x === 'object' && 'data' in x && 'path' in x) return (x as { data: unknown }).data;
  return x;
}

/** An accessor evaluating `expression` with the FHIRPath engine (slow, general). */
export function compileWithEngine(expression: string): Accessor {
  const rewritten = splitUnion(expression).map(rewriteForEngine).join(' | ');
  const evaluate = fhirpath.compile(rewritten, model, { resolveInternalTypes: false, userInvocationTable });
  return (resource) => {
    const result = evaluate(resource) as unknown[];
    if (result.length === 0) return result as TypedValue[];
    const types = fhirpath.types(result);
    return result.map((x, i): TypedValue => ({ v: plain(x), t: canonicalType(types[i] ?? '') }));
  };
}

/** An item a composite's expression selects, with the model path describing it. */
export interface EngineItem {
  v: unknown;
  context: string;
}

/**
 * The items `expression` (one member of a composite's expression) selects, each with the
 * model path the engine describes it by (`Observation.component`, `UsageContext`), which
 * the components are then evaluated against.
 */
export function compileItemsWithEngine(expression: string): (resource: Record<string, unknown>) => EngineItem[] {
  const evaluate = fhirpath.compile(rewriteForEngine(expression), model, { resolveInternalTypes: false, userInvocationTable });
  return (resource) => {
    const out: EngineItem[] = [];
    for (const x of evaluate(resource) as unknown[]) {
      if (x === null || typeof x !== 'object' || !('path' in x) || !('data' in x)) continue;
      const path = (x as { path: unknown }).path;
      if (typeof path === 'string') out.push({ v: (x as { data: unknown }).data, context: path });
    }
    return out;
  };
}

/**
 * Evaluates `expression` on a part of a resource described at model path `base` (a
 * composite's component on its item); `%resource` is the whole resource.
 */
export function compileWithEngineAt(expression: string, base: string): (value: unknown, resource: Record<string, unknown>) => TypedValue[] {
  const rewritten = splitUnion(expression).map(rewriteForEngine).join(' | ');
  const evaluate = fhirpath.compile({ base, expression: rewritten }, model, { resolveInternalTypes: false, userInvocationTable });
  return (value, resource) => {
    const result = evaluate(value as Record<string, unknown>, { resource }) as unknown[];
    if (result.length === 0) return result as TypedValue[];
    const types = fhirpath.types(result);
    return result.map((x, i): TypedValue => ({ v: plain(x), t: canonicalType(types[i] ?? '') }));
  };
}
