import type { SearchParamDef, SearchParamType } from './registry.js';
import { COLUMN_PARAMS } from './types.js';

/**
 * Search parameters that are the union of others of the same resource type, which
 * therefore need no index rows of their own.
 *
 * R4 defines Observation's `combo-*` parameters this way: `combo-code` is
 * `Observation.code | Observation.component.code`, exactly the members of `code` and
 * `component-code`; `combo-code-value-quantity` selects `Observation | Observation.component`
 * with the same components as `code-value-quantity` (`Observation`) and
 * `component-code-value-quantity` (`Observation.component`). Indexed on their own they
 * repeat every one of those rows: about a fifth of a Synthea load's index rows. A search
 * on such a parameter is answered from its members' rows instead (query/compile.ts), with
 * the same matches, since each member extracts the same values from the same elements.
 *
 * Found from the definitions themselves (custom ones included), so a parameter stops
 * being a union when a member's definition changes, and is then indexed and tracked like
 * any other (search/readiness.ts).
 */

/** Parameter types whose unions are answered from their members. References are not: includes and chains read their rows by code. */
const UNION_TYPES = new Set<SearchParamType>(['token', 'string', 'quantity', 'number', 'date', 'uri', 'composite']);

/** Same components, in order: the same types at the same paths. */
function sameComponents(a: SearchParamDef, b: SearchParamDef): boolean {
  const x = a.component ?? [];
  const y = b.component ?? [];
  return x.length === y.length && x.every((c, n) => c.type !== undefined && c.type === y[n].type && c.expression.trim() === y[n].expression.trim());
}

/** True when `q` may be a member of a union `p`: same type (and components), only some of `p`'s members. */
function canBeMember(p: SearchParamDef, q: SearchParamDef): boolean {
  if (q === p || q.type !== p.type || q.expression === undefined || COLUMN_PARAMS.has(q.code)) return false;
  if (q.expressionParts.length >= p.expressionParts.length || !q.expressionParts.every((part) => p.expressionParts.includes(part))) return false;
  return p.type !== 'composite' || sameComponents(p, q);
}

/**
 * Sets `unionOf` on every parameter of one resource type (`params`, by code) whose union
 * members are exactly covered by other parameters' members; those others are never
 * unions themselves, and no two of them share a member.
 */
export function markUnions(params: ReadonlyMap<string, SearchParamDef>): void {
  // Smaller parameters first: a union's members are settled before it is looked at.
  const ordered = [...params.values()].sort((a, b) => a.expressionParts.length - b.expressionParts.length);
  for (const p of ordered) {
    p.unionOf = undefined;
    if (!UNION_TYPES.has(p.type) || p.expression === undefined || p.expressionParts.length < 2 || COLUMN_PARAMS.has(p.code)) continue;
    const covered = new Set<string>();
    const members: string[] = [];
    // Larger members first, so that `a | b | c` takes `a | b` and `c` rather than three singles.
    const candidates = ordered.filter((q) => q.unionOf === undefined && canBeMember(p, q)).reverse();
    for (const q of candidates) {
      if (q.expressionParts.some((part) => covered.has(part))) continue;
      q.expressionParts.forEach((part) => covered.add(part));
      members.push(q.code);
    }
    if (covered.size === p.expressionParts.length && new Set(p.expressionParts).size === covered.size) p.unionOf = members.sort();
  }
}
