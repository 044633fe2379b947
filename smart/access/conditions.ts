/**
 * The SQL side of scope enforcement: what rows of `resources r` one scope grants, and how
 * the grants of several scopes combine
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html).
 *
 * Every condition is about the row aliased `r`, the alias search uses for its matches and
 * includes, so the same condition serves a search, a read by id, a write check and an
 * include alike.
 */
import { FhirError } from '../../server/errors.js';
import { anyTypeCompartmentWhere, compartmentParams, compartmentWhere } from '../../server/search/query/compartment.js';
import { compileFilters, ROOT } from '../../server/search/query/plan.js';
import { anyOf, never, type QB, type QueryEnv, type RowCondition, type Where } from '../../server/search/query/sql.js';
import type { ResourceScope } from '../scopes/index.js';

/**
 * The rows a token may touch for one type and permission: `'all'` (no SQL at all),
 * `'none'`, or a condition on `r`.
 */
export type RowRule = RowCondition;

/** The rule's condition for a WHERE clause: nothing for `'all'`, a false condition for `'none'`. */
export function asWhere(rule: RowRule): Where | undefined {
  if (rule === 'all') return undefined;
  if (rule === 'none') return never;
  return rule;
}

/** OR of rules: any `'all'` wins; `'none'` adds nothing. */
export function anyRule(rules: readonly RowRule[]): RowRule {
  if (rules.includes('all')) return 'all';
  const wheres = rules.filter((r): r is Where => typeof r === 'function');
  if (wheres.length === 0) return 'none';
  if (wheres.length === 1) return wheres[0];
  return (qb) => anyOf(qb, wheres, (w, p) => p(w));
}

/** AND of rules: any `'none'` wins; `'all'` adds nothing. */
export function everyRule(rules: readonly RowRule[]): RowRule {
  if (rules.includes('none')) return 'none';
  const wheres = rules.filter((r): r is Where => typeof r === 'function');
  if (wheres.length === 0) return 'all';
  if (wheres.length === 1) return wheres[0];
  return (qb) => void qb.where((g: QB) => wheres.forEach((w) => g.where((x: QB) => w(x))));
}

/** "`r` is of `type` and passes `rule`": for queries whose rows may be of several types. */
export function ofType(type: string, rule: RowRule): RowRule {
  if (rule === 'none') return 'none';
  return (qb) =>
    void qb.where((g: QB) => {
      g.where(`${ROOT}.resource_type`, type);
      if (rule !== 'all') g.where((w: QB) => rule(w));
    });
}

/** "`r` is of one of `types`" (each of which the token may see whole). */
export function ofTypes(types: readonly string[]): Where {
  return (qb) => void qb.whereIn(`${ROOT}.resource_type`, [...types]);
}

/**
 * The rows a granular scope's search filter selects
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#finer-grained-resource-constraints-using-search-parameters),
 * compiled by the search layer so the filter means exactly what the same search would.
 * `types` undefined: rows of any type (a `*` scope), where only parameters every type has
 * compile. A filter that does not compile, or one with parameters that select nothing
 * (`_sort=…`), grants nothing rather than everything.
 */
export function queryRows(env: QueryEnv, scope: ResourceScope, types: string[] | undefined): RowRule {
  if (scope.query === undefined) return 'all';
  const query: Record<string, string[]> = {};
  for (const [name, value] of scope.query.params) (query[name] ??= []).push(value);
  try {
    const filters = compileFilters(env, types, query, false);
    if (filters.used.length !== scope.query.params.length) return 'none';
    return everyRule(filters.wheres);
  } catch (err) {
    if (err instanceof FhirError) return 'none';
    throw err;
  }
}

/**
 * The rows of `type` in the Patient compartment of the patient in context
 * (https://hl7.org/fhir/R4/compartmentdefinition-patient.html); none without one, and none
 * for a type the compartment does not list.
 */
export function compartmentRows(env: QueryEnv, type: string, patient: string | undefined): RowRule {
  if (patient === undefined) return 'none';
  if (type !== 'Patient' && compartmentParams('Patient', type).length === 0) return 'none';
  return compartmentWhere(env, { alias: ROOT, type }, 'Patient', patient);
}

/** Like {@link compartmentRows} for rows of any type (a `patient/*` scope). */
export function anyTypeCompartmentRows(env: QueryEnv, patient: string | undefined): RowRule {
  if (patient === undefined) return 'none';
  return anyTypeCompartmentWhere(env, ROOT, 'Patient', patient);
}

/**
 * The rows one scope grants: its context's restriction AND its search filter.
 * `system/` and `user/` scopes carry no compartment restriction (user-level access lists are
 * not modelled: a `user/` scope grants what it names on every row); a `patient/` scope grants
 * `patientRows`, the caller's compartment rows for the type (see {@link compartmentRows}).
 */
export function scopeRows(env: QueryEnv, scope: ResourceScope, types: string[] | undefined, patientRows: () => RowRule): RowRule {
  const context = scope.context === 'patient' ? patientRows() : 'all';
  if (context === 'none') return 'none';
  return everyRule([context, queryRows(env, scope, types)]);
}
