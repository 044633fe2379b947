import { badRequest } from '../../errors.js';
import { isResourceType } from '../../validate/index.js';
import { getSearchParam, type SearchParamDef } from '../registry.js';
import { SEARCH_TABLES } from '../schema.js';
import { compileName } from './compile.js';
import { splitModifier } from './params.js';
import { checkTypeModifier } from './reference.js';
import { hasIndexRow, localTarget, never, ownerKey, type Owner, type QB, type QueryEnv, type RowCondition, type Where } from './sql.js';

/**
 * Chained parameters (`subject:Patient.name=x`) and reverse chaining
 * (`_has:Observation:patient:code=x`): https://hl7.org/fhir/R4/search.html#chaining and
 * https://hl7.org/fhir/R4/search.html#has. Both walk `search_reference` to a current
 * (not deleted) row of `resources` and apply the rest of the name to it.
 */

/** Deepest chain followed: each link adds a nested EXISTS. */
const MAX_LINKS = 4;
/** Target types an untyped chain may fan out to before it must name one. */
const MAX_TARGETS = 40;

function links(name: string): number {
  return name.split('.').length - 1 + (name.match(/_has:/g)?.length ?? 0);
}

/** The reference definitions of `code` on the owner's types. */
function referenceDefs(types: readonly string[] | undefined, code: string, param: string): SearchParamDef[] {
  if (types === undefined) throw badRequest(`${param}: chained parameters need a resource type (give _type)`, param, 'not-supported');
  return types.map((type) => {
    const def = getSearchParam(type, code);
    if (!def) throw badRequest(`Unknown search parameter "${code}" for ${type}`, param, 'not-supported');
    if (def.type !== 'reference') throw badRequest(`${param}: ${code} is a ${def.type} parameter and cannot be chained`, param, 'invalid');
    if (def.expression === undefined) throw badRequest(`${param}: ${type}.${code} is not supported by this server`, param, 'not-supported');
    return def;
  });
}

/** The first parameter code of a (possibly chained or modified) name. */
function firstCode(name: string): string {
  if (name.startsWith('_has:')) return '_has';
  return splitModifier(name.split('.')[0])[0];
}

/**
 * The types a chain link may lead to: the `:Type` modifier's, else every target type
 * that defines the next parameter (the spec's union over target types).
 */
function chainTargets(defs: SearchParamDef[], typeModifier: string | undefined, rest: string, param: string): string[] {
  if (typeModifier !== undefined) {
    for (const def of defs) checkTypeModifier(def, typeModifier, param);
    return [typeModifier];
  }
  const next = firstCode(rest);
  const targets = [...new Set(defs.flatMap((d) => d.targets))].filter((t) => next === '_has' || getSearchParam(t, next) !== undefined);
  if (targets.length === 0) throw badRequest(`${param}: no type that ${defs[0].code} refers to has a parameter "${next}"`, param, 'not-supported');
  if (targets.length > MAX_TARGETS) {
    throw badRequest(`${param}: ${targets.length} target types define "${next}"; name one, as in ${defs[0].code}:${targets[0]}.${rest}`, param, 'too-costly');
  }
  return targets;
}

/**
 * `select r.id from resources r where r.resource_type = ? and not deleted and <inner>`
 * (with `r.resource_type` too when several types are allowed): the current resources a
 * chain link may arrive at. With `byKey`, `select r.rid …` instead, for matching index
 * rows (whose resource it is) rather than references (what they point at).
 */
export function currentResources(env: QueryEnv, target: Owner, types: readonly string[], inner: Where, byKey = false): (this: QB) => void {
  const r = target.alias;
  return function (this: QB): void {
    if (byKey) this.select(`${r}.rid`).from(`resources as ${r}`);
    else if (types.length === 1) this.select(`${r}.id`).from(`resources as ${r}`);
    else this.select(`${r}.resource_type`, `${r}.id`).from(`resources as ${r}`);
    if (types.length === 1) this.where(`${r}.resource_type`, types[0]);
    else this.whereIn(`${r}.resource_type`, types);
    this.where(`${r}.deleted`, false);
    inner(this);
    if (env.visible) onlyVisible(this, r, types, env.visible);
  };
}

/**
 * Keeps the rows a chain arrives at to those the caller may see. The caller's conditions
 * are written for alias `r`, so each is applied in a subquery of its own, where `r` is
 * the row being tested.
 */
function onlyVisible(qb: QB, alias: string, types: readonly string[], visible: (type: string) => RowCondition): void {
  const rules = types.map((type) => ({ type, rule: visible(type) }));
  if (rules.every((x) => x.rule === 'all')) return;
  const allowed = rules.filter((x) => x.rule !== 'none');
  if (allowed.length === 0) return never(qb);
  qb.where((w: QB) => {
    for (const { type, rule } of allowed) {
      w.orWhere((o: QB) => {
        o.where(`${alias}.resource_type`, type);
        if (rule === 'all' || rule === 'none') return;
        const condition: Where = rule;
        o.whereIn(`${alias}.rid`, function (this: QB) {
          this.select('r.rid').from('resources as r').where('r.resource_type', type).where((c: QB) => condition(c));
        });
      });
    }
  });
}

/** `ref[:Type].rest=value`: some local target of `ref` matches `rest=value`. */
export function compileChain(env: QueryEnv, owner: Owner, types: readonly string[] | undefined, name: string, raws: string[]): Where {
  if (links(name) > MAX_LINKS) throw badRequest(`${name}: chains may have at most ${MAX_LINKS} links`, name, 'too-costly');
  const dot = name.indexOf('.');
  const [code, typeModifier] = splitModifier(name.slice(0, dot));
  const rest = name.slice(dot + 1);
  if (rest === '') throw badRequest(`${name}: a chain needs a parameter after the "."`, name, 'invalid');
  const defs = referenceDefs(types, code, name);
  const targets = chainTargets(defs, typeModifier, rest, name);
  const target: Owner = { alias: env.alias('r'), type: targets.length === 1 ? targets[0] : undefined };
  const inner = compileName(env, target, targets, rest, raws);
  return hasIndexRow(env, owner, 'reference', code, (qb, c) => {
    localTarget(qb, c, env.baseUrl);
    const arrivals = currentResources(env, target, targets, inner);
    if (targets.length === 1) qb.where(`${c}.target_type`, targets[0]).whereIn(`${c}.target_id`, arrivals);
    else qb.whereIn([`${c}.target_type`, `${c}.target_id`] as unknown as string, arrivals);
  });
}

/**
 * `_has:Type:ref:rest=value`: some `Type` whose `ref` points at the owner matches
 * `rest=value`; `rest` may itself be another `_has`.
 */
export function compileHas(env: QueryEnv, owner: Owner, types: readonly string[] | undefined, name: string, raws: string[]): Where {
  if (links(name) > MAX_LINKS) throw badRequest(`${name}: chains may have at most ${MAX_LINKS} links`, name, 'too-costly');
  const parts = name.split(':');
  const [, type, ref] = parts;
  const rest = parts.slice(3).join(':');
  if (parts.length < 4 || !type || !ref || !rest) throw badRequest(`${name}: _has takes _has:Type:reference:parameter`, name, 'invalid');
  if (!isResourceType(type)) throw badRequest(`${name}: "${type}" is not a resource type`, name, 'value');
  const def = referenceDefs([type], ref, name)[0];
  if (types !== undefined && def.targets.length > 0 && !types.some((t) => def.targets.includes(t))) {
    throw badRequest(`${name}: ${type}.${ref} does not refer to ${types.join(' or ')}`, name, 'invalid');
  }
  const source: Owner = { alias: env.alias('r'), type };
  const inner = compileName(env, source, [type], rest, raws);
  const h = env.alias('h');
  const pointers = function (this: QB): void {
    const table = `${SEARCH_TABLES.reference} as ${h}`;
    if (owner.type !== undefined) this.select(`${h}.target_id`).from(table).where(`${h}.target_type`, owner.type);
    else this.select(`${h}.target_type`, `${h}.target_id`).from(table);
    this.where(`${h}.resource_type`, type).where(`${h}.code`, ref);
    localTarget(this, h, env.baseUrl);
    this.whereIn(`${h}.rid`, currentResources(env, source, [type], inner, true));
  };
  return (qb) => void qb.whereIn(ownerKey(owner) as string, pointers);
}
