import { badRequest, type FhirError } from '../errors.js';
import { compartmentParams } from './query/compartment.js';
import type { IncludeSpec } from './query/include.js';
import { splitModifier } from './query/params.js';
import { anyNotReady, isReady, notReadyParams, notReadyTypes } from './readiness.js';
import { getSearchParam, type SearchParamDef } from './registry.js';

/**
 * The query side of readiness: a search that names a parameter whose index is being
 * rebuilt (see readiness.ts) is refused with a 400 naming it, wherever the parameter
 * appears: as a filter, in a chain or `_has`, in `_sort`, `_include`/`_revinclude` or as
 * a compartment's membership. Under `Prefer: handling=lenient` the caller turns the 400
 * into a warning and leaves the parameter out, as for an unknown parameter
 * (https://hl7.org/fhir/R4/search.html#errors). Every check returns at once when all
 * parameters are ready, which is nearly always.
 */

function notReady(param: string | undefined, label: string, code: string, type: string): FhirError {
  return badRequest(
    `${label}: the search parameter "${code}" of ${type} cannot be used yet: its index is being rebuilt after a change of its definition, ` +
      'and its results would be incomplete. Try again later, or search with "Prefer: handling=lenient" to leave it out.',
    param,
    'not-supported',
  );
}

/** `code` of `type`, and the components of a composite, must be ready. */
function requireCode(type: string, code: string, param: string | undefined, label = param ?? type): void {
  if (!isReady(type, code)) throw notReady(param, label, code, type);
  for (const c of getSearchParam(type, code)?.component ?? []) {
    if (c.code !== undefined && !isReady(type, c.code)) throw notReady(param, label, c.code, type);
  }
}

/** `code` on each of `types`; on every type for a search across all types. */
function requireCodeOn(types: readonly string[] | undefined, code: string, param: string): void {
  if (types !== undefined) {
    for (const type of types) requireCode(type, code, param);
    return;
  }
  const [type] = notReadyTypes(code);
  if (type !== undefined) throw notReady(param, param, code, type);
}

/** The types a chain link leads to, as the chain compiler picks them (chain.ts). */
function chainTargets(types: readonly string[], code: string, typeModifier: string | undefined, rest: string): string[] {
  if (typeModifier !== undefined) return [typeModifier];
  const next = rest.startsWith('_has:') ? '_has' : splitModifier(rest.split('.')[0])[0];
  const defs = types.map((t) => getSearchParam(t, code)).filter((d): d is SearchParamDef => d !== undefined);
  return [...new Set(defs.flatMap((d) => d.targets))].filter((t) => next === '_has' || getSearchParam(t, next) !== undefined);
}

/** Walks `name` as compile.ts does: `_has:` first, then chains, then a plain parameter. */
function walk(types: readonly string[] | undefined, name: string, param: string): void {
  if (name.startsWith('_has:')) {
    const [, type, ref, ...rest] = name.split(':');
    // Malformed `_has` is the compiler's to report.
    if (!type || !ref || rest.length === 0 || getSearchParam(type, ref) === undefined) return;
    requireCode(type, ref, param);
    walk([type], rest.join(':'), param);
    return;
  }
  const dot = name.indexOf('.');
  if (dot < 0) return requireCodeOn(types, splitModifier(name)[0], param);
  if (types === undefined) return;
  const [code, typeModifier] = splitModifier(name.slice(0, dot));
  const rest = name.slice(dot + 1);
  requireCodeOn(types, code, param);
  walk(chainTargets(types, code, typeModifier, rest), rest, param);
}

/** Every parameter a search parameter `name` (chains and `_has` included) uses must be ready. */
export function requireParamReady(types: readonly string[] | undefined, name: string): void {
  if (anyNotReady()) walk(types, name, name);
}

/** `_sort`'s parameters must be ready; returns the values as given. */
export function sortReady(types: readonly string[] | undefined, values: string[] | undefined): string[] | undefined {
  if (!anyNotReady() || values === undefined) return values;
  for (const item of values.flatMap((v) => v.split(','))) {
    const code = item.trim().replace(/^-/, '');
    if (code !== '') requireCodeOn(types, code, '_sort');
  }
  return values;
}

/**
 * An include's reference parameter must be ready; a wildcard (`*`, `Type:*`) follows
 * every reference parameter of the types it may start from, so all of those must be.
 */
export function includeReady(types: readonly string[] | undefined, spec: IncludeSpec): true {
  if (!anyNotReady()) return true;
  const [param] = spec.param;
  if (spec.source !== undefined && spec.code !== undefined) {
    requireCode(spec.source, spec.code, param);
    return true;
  }
  const anyType = spec.source === undefined && (spec.rev || spec.iterate || types === undefined);
  const sources = spec.source !== undefined ? [spec.source] : types ?? [];
  for (const [type, codes] of notReadyParams()) {
    if (!anyType && !sources.includes(type)) continue;
    for (const code of codes) if (getSearchParam(type, code)?.type === 'reference') throw notReady(param, param, code, type);
  }
  return true;
}

/** A compartment search (`Patient/1/Observation`) needs every parameter that makes members ready. */
export function requireCompartmentReady(type: string, compartment: string): void {
  if (!anyNotReady()) return;
  for (const code of compartmentParams(compartment, type)) requireCode(type, code, undefined, `${compartment} compartment search of ${type}`);
}
