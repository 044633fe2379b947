import { badRequest } from '../../errors.js';
import { clip } from '../normalize.js';
import { parseReference } from '../reference.js';
import type { SearchParamDef } from '../registry.js';
import { isResourceType, resourceTypes } from '../../validate/index.js';
import { MAX_INDEXED_URL } from '../types.js';
import { unescapeValue } from './params.js';
import { anyOf, hasIndexRow, localTarget, type Owner, type QB, type QueryEnv, type RowMatch, type Where } from './sql.js';
import { tokenRows } from './token.js';
import { isResourceId } from '../../fhir/ids.js';

/**
 * Reference search: https://hl7.org/fhir/R4/search.html#reference. A value is
 * `Type/id[/_history/vid]`, a bare id (any target type, or the `:Type` modifier's), or
 * an absolute URL: on this server's base it means the local resource, elsewhere the
 * URL itself (a canonical may carry `|version`). `:identifier` searches
 * Reference.identifier as a token.
 */

/** What one reference value asks for. */
type RefValue =
  | { kind: 'local'; type: string | undefined; id: string; version: string | undefined }
  | { kind: 'url'; url: string; version: string | undefined };

type LocalRef = Extract<RefValue, { kind: 'local' }>;


/** A local `Type/id[/_history/vid]` or bare id; undefined when the text is neither. */
function localRef(text: string): LocalRef | undefined {
  if (isResourceId(text)) return { kind: 'local', type: undefined, id: text, version: undefined };
  const p = parseReference(text);
  if (!p || p.url !== null || !p.type || !p.id) return undefined;
  return { kind: 'local', type: p.type, id: p.id, version: p.version ?? undefined };
}

/** An absolute URL: local when it starts with our base, otherwise matched by URL. */
function absoluteRef(text: string, baseUrl: string): RefValue | undefined {
  if (baseUrl !== '' && text.startsWith(`${baseUrl}/`)) {
    const local = localRef(text.slice(baseUrl.length + 1));
    return local?.type ? local : undefined;
  }
  if (!/^[a-z][a-z0-9+.-]*:/i.test(text)) return undefined;
  const bar = text.lastIndexOf('|');
  const p = parseReference(bar < 0 ? text : text.slice(0, bar));
  // A RESTful URL elsewhere is stored unversioned with its version apart, like a canonical's.
  const version = bar >= 0 ? text.slice(bar + 1) : (p?.version ?? undefined);
  return { kind: 'url', url: clip(p?.url ?? text, MAX_INDEXED_URL), version: version || undefined };
}

/** Parses one value; `typeModifier` is the `:Type` of `subject:Patient=123`. */
function parseRef(raw: string, def: SearchParamDef, typeModifier: string | undefined, env: QueryEnv, param: string): RefValue {
  const text = unescapeValue(raw);
  const ref = localRef(text) ?? absoluteRef(text, env.baseUrl);
  if (!ref) throw badRequest(`${param}: "${clip(raw, 100)}" is not a reference (Type/id, id or an absolute URL)`, param, 'value');
  if (ref.kind === 'local') {
    if (ref.type !== undefined && !isResourceType(ref.type)) throw badRequest(`${param}: "${ref.type}" is not a resource type`, param, 'value');
    if (typeModifier !== undefined && ref.type !== undefined && ref.type !== typeModifier) {
      throw badRequest(`${param}: "${text}" is not a ${typeModifier}`, param, 'value');
    }
    const type = ref.type ?? typeModifier;
    if (type !== undefined && def.targets.length > 0 && !def.targets.includes(type)) {
      throw badRequest(`${param}: ${def.code} does not refer to ${type} (it refers to ${def.targets.slice(0, 10).join(', ')}${def.targets.length > 10 ? ', …' : ''})`, param, 'value');
    }
    return { ...ref, type };
  }
  return ref;
}

/**
 * Adds the row conditions of one reference value on `search_reference` row `t`.
 * `targets`: the parameter's target types (empty: any type).
 */
function matchRef(qb: QB, t: string, v: RefValue, baseUrl: string, targets: readonly string[]): void {
  if (v.kind === 'url') qb.where(`${t}.url`, v.url);
  else {
    // A bare id means any of the parameter's target types. Naming them lets the `_target`
    // index (type first) seek; one type (Encounter's `patient`) is a plain equality.
    const types = v.type !== undefined ? [v.type] : targets.length > 0 ? targets : (resourceTypes() as string[]);
    if (types.length === 1) qb.where(`${t}.target_type`, types[0]);
    else qb.whereIn(`${t}.target_type`, types as string[]);
    qb.where(`${t}.target_id`, v.id);
    localTarget(qb, t, baseUrl);
  }
  if (v.version !== undefined) qb.where(`${t}.target_version`, v.version);
}

/** A `:Type` modifier: a resource type among the parameter's targets. */
export function checkTypeModifier(def: SearchParamDef, modifier: string, param: string): void {
  if (!isResourceType(modifier)) throw badRequest(`${param}: unknown modifier ":${modifier}" for a reference parameter`, param, 'not-supported');
  if (def.targets.length > 0 && !def.targets.includes(modifier)) {
    throw badRequest(`${param}: ${def.code} does not refer to ${modifier}`, param, 'value');
  }
}

/** The row condition of one reference value on `search_reference` row `t` (a composite's reference component). */
export function referenceMatch(raw: string, def: SearchParamDef, env: QueryEnv, param: string): RowMatch {
  const v = parseRef(raw, def, undefined, env, param);
  return (qb, t) => matchRef(qb, t, v, env.baseUrl, def.targets);
}

/** The condition of one reference parameter occurrence. */
export function referenceWhere(env: QueryEnv, owner: Owner, def: SearchParamDef, modifier: string | undefined, raws: string[], param: string): Where {
  if (modifier === 'identifier') return tokenRows(env, owner, `${def.code}:identifier`, raws, param);
  if (modifier === 'above' || modifier === 'below') throw badRequest(`${param}: :${modifier} on references is not supported`, param, 'not-supported');
  if (modifier !== undefined) checkTypeModifier(def, modifier, param);
  const values = raws.map((r) => parseRef(r, def, modifier, env, param));
  return hasIndexRow(env, owner, 'reference', def.code, (qb, t) => anyOf(qb, values, (w, v) => matchRef(w, t, v, env.baseUrl, def.targets)));
}
