import { badRequest } from '../../errors.js';
import { getSearchParam, type SearchParamDef } from '../registry.js';
import { indexKindOf, type IndexKind } from '../types.js';
import { compileChain, compileHas } from './chain.js';
import { compositePresence, compositeWhere } from './composite.js';
import { dateCondition, dateWhere, parseDates } from './date.js';
import { listWhere } from './list.js';
import { numberWhere, quantityWhere } from './number.js';
import { splitModifier, unescapeValue, UNSUPPORTED_PARAMS } from './params.js';
import { referenceWhere } from './reference.js';
import { anyOf, hasIndexRow, never, type Owner, type QB, type QueryEnv, type Where } from './sql.js';
import { stringWhere, uriWhere } from './text.js';
import { tokenWhere } from './token.js';

/**
 * Compiles one parameter occurrence (`name[:modifier]` and its OR-alternatives) into a
 * condition on a `resources` row, driven by the registry's definition of the name
 * (https://hl7.org/fhir/R4/search.html#ptypes). Repeated occurrences are ANDed by the
 * caller.
 */

/** The type whose parameters are exactly those every resource has (it derives from Resource alone). */
export const RESOURCE_LEVEL = 'Parameters';

/** `_id`: the resource's own id column (https://hl7.org/fhir/R4/search.html#id). */
function idWhere(owner: Owner, modifier: string | undefined, raws: string[], param: string): Where {
  const ids = raws.map(unescapeValue);
  const col = `${owner.alias}.id`;
  if (modifier === undefined) return (qb) => void qb.whereIn(col, ids);
  if (modifier === 'not') return (qb) => void qb.whereNotIn(col, ids);
  throw badRequest(`${param}: unknown modifier ":${modifier}" for _id (known: not, missing)`, param, 'not-supported');
}

/** `_lastUpdated`: `resources.last_updated`, an instant, so a range of one point (https://hl7.org/fhir/R4/search.html#lastUpdated). */
function lastUpdatedWhere(owner: Owner, def: SearchParamDef, modifier: string | undefined, raws: string[], param: string): Where {
  if (modifier !== undefined) throw badRequest(`${param}: unknown modifier ":${modifier}" for _lastUpdated`, param, 'not-supported');
  const values = parseDates(raws, def.comparators, param);
  const col = `${owner.alias}.last_updated`;
  return (qb) => anyOf(qb, values, (w, v) => dateCondition(w, col, col, v.prefix, v.range));
}

/** The (table, code) pairs whose rows mean "this parameter has a value". */
function presenceRows(def: SearchParamDef, param: string): [IndexKind, string][] {
  if (def.type === 'composite') return [compositePresence(def, param)];
  const kind = indexKindOf(def.type);
  if (kind === undefined || def.expression === undefined || UNSUPPORTED_PARAMS.has(def.code)) {
    throw badRequest(`${param}: :missing is not supported for ${def.code}`, param, 'not-supported');
  }
  if (def.type === 'token') return [['token', def.code], ['token', `${def.code}:text`]];
  if (def.type === 'reference') return [['reference', def.code], ['token', `${def.code}:identifier`]];
  return [[kind, def.code]];
}

/** `:missing=true|false` (https://hl7.org/fhir/R4/search.html#missing). */
function missingWhere(env: QueryEnv, owner: Owner, def: SearchParamDef, raws: string[], param: string): Where {
  if (raws.length !== 1 || (raws[0] !== 'true' && raws[0] !== 'false')) throw badRequest(`${param}: :missing takes true or false`, param, 'value');
  const missing = raws[0] === 'true';
  if (def.code === '_id' || def.code === '_lastUpdated') return missing ? never : () => undefined;
  const rows = presenceRows(def, param).map(([kind, code]) => hasIndexRow(env, owner, kind, code, undefined, missing));
  // Missing: no row in any place; present: a row in some place.
  return (qb) => (missing ? rows.forEach((r) => r(qb)) : anyOf(qb, rows, (w, r) => r(w)));
}

/**
 * A parameter that is the union of others (search/union-params.ts), from their rows: a
 * value matches when some member has it, so members' conditions are ORed; `:not` and
 * `:missing=true` ask that no member has it, so theirs are ANDed.
 */
function unionWhere(env: QueryEnv, owner: Owner, def: SearchParamDef, modifier: string | undefined, raws: string[], param: string): Where {
  // Compiled as itself first, so that a bad value or modifier is refused in its own name.
  paramWhere(env, owner, { ...def, unionOf: undefined }, modifier, raws, param);
  const members = def.unionOf!.map((code) => getSearchParam(def.resourceType, code)!);
  const wheres = members.map((m) => paramWhere(env, owner, m, modifier, raws, param));
  const none = modifier === 'not' || (modifier === 'missing' && raws.length === 1 && raws[0] === 'true');
  return (qb) => (none ? wheres.forEach((w) => w(qb)) : anyOf(qb, wheres, (w, where) => where(w)));
}

/** The condition of `code[:modifier]` as `def` defines it. */
function paramWhere(env: QueryEnv, owner: Owner, def: SearchParamDef, modifier: string | undefined, raws: string[], param: string): Where {
  if (def.unionOf) return unionWhere(env, owner, def, modifier, raws, param);
  if (modifier === 'missing') return missingWhere(env, owner, def, raws, param);
  if (def.code === '_id') return idWhere(owner, modifier, raws, param);
  if (def.code === '_lastUpdated') return lastUpdatedWhere(owner, def, modifier, raws, param);
  if (def.expression === undefined || UNSUPPORTED_PARAMS.has(def.code)) {
    throw badRequest(`${param}: the parameter ${def.code} is not supported by this server`, param, 'not-supported');
  }
  switch (def.type) {
    case 'token':
      return tokenWhere(env, owner, def.code, modifier, raws, param);
    case 'string':
      return stringWhere(env, owner, def.code, modifier, raws, param);
    case 'uri':
      return uriWhere(env, owner, def.code, modifier, raws, param);
    case 'reference':
      return referenceWhere(env, owner, def, modifier, raws, param);
    case 'date':
      return dateWhere(env, owner, def.code, modifier, raws, def.comparators, param);
    case 'number':
      return numberWhere(env, owner, def.code, modifier, raws, def.comparators, param);
    case 'quantity':
      return quantityWhere(env, owner, def.code, modifier, raws, def.comparators, param);
    case 'composite':
      return compositeWhere(env, owner, def, modifier, raws, param);
    default:
      throw badRequest(`${param}: ${def.type} parameters such as ${def.code} are not supported by this server`, param, 'not-supported');
  }
}

/** The definitions of `code` on each type; 400 naming a type that lacks it. */
function definitionsFor(types: readonly string[] | undefined, code: string, param: string): SearchParamDef[] {
  if (UNSUPPORTED_PARAMS.has(code)) throw badRequest(`${param}: ${code} is not supported by this server`, param, 'not-supported');
  if (types === undefined) {
    const def = getSearchParam(RESOURCE_LEVEL, code);
    if (!def) throw badRequest(`Unknown search parameter "${code}" for a search across all types (give _type to use type-specific parameters)`, param, 'not-supported');
    return [def];
  }
  return types.map((type) => {
    const def = getSearchParam(type, code);
    if (!def) throw badRequest(`Unknown search parameter "${code}" for ${type}`, param, 'not-supported');
    return def;
  });
}

/**
 * The condition of one occurrence `name=raws` on `owner`, which is one of `types`
 * (undefined: any type). Where the types define the parameter differently, each type
 * gets its own branch, `owner.resource_type = T and …`.
 */
export function compileName(env: QueryEnv, owner: Owner, types: readonly string[] | undefined, name: string, raws: string[]): Where {
  if (name.startsWith('_has:')) return compileHas(env, owner, types, name, raws);
  if (name.includes('.')) return compileChain(env, owner, types, name, raws);
  const [code, modifier] = splitModifier(name);
  if (code === '_list') return listWhere(env, owner, modifier, raws, name);
  const defs = definitionsFor(types, code, name);
  if (defs.length === 1) {
    const typed = types === undefined ? owner : { alias: owner.alias, type: defs[0].resourceType };
    return paramWhere(env, typed, defs[0], modifier, raws, name);
  }
  // Index rows are keyed by code alone, so types that define the code with the same
  // parameter type share one condition; only differing parameter types need branches.
  if (defs.every((d) => sameShape(d, defs[0]))) return paramWhere(env, owner, mergeTargets(defs), modifier, raws, name);
  const branches = defs.map((def) => ({ type: def.resourceType, where: paramWhere(env, { alias: owner.alias, type: def.resourceType }, def, modifier, raws, name) }));
  return (qb: QB) =>
    anyOf(qb, branches, (w, b) => {
      w.where(`${owner.alias}.resource_type`, b.type);
      b.where(w);
    });
}

/** Same parameter type, and for composites the same component types: their rows are alike. Never for unions. */
function sameShape(a: SearchParamDef, b: SearchParamDef): boolean {
  const parts = (d: SearchParamDef) => (d.component ?? []).map((c) => c.type).join();
  // A union (search/union-params.ts) has no rows under its own code: its type needs a branch.
  if (a.unionOf || b.unionOf) return false;
  return a.type === b.type && (a.type !== 'composite' || parts(a) === parts(b));
}

/** One definition standing for several of the same parameter type: the union of their reference targets. */
function mergeTargets(defs: SearchParamDef[]): SearchParamDef {
  if (defs.some((d) => d.targets.length === 0)) return { ...defs[0], targets: [] };
  return { ...defs[0], targets: [...new Set(defs.flatMap((d) => d.targets))] };
}
