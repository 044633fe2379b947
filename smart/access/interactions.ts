/**
 * Which SMART permission letters each FHIR interaction needs
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#scopes-for-requesting-fhir-resources).
 *
 * v1 scopes need no mapping of their own: the scope parser already expands `.read` to `rs`,
 * `.write` to `cud` and `.*` to `cruds`.
 */
import type { Permission, ScopeContext } from '../scopes/index.js';

/**
 * The interactions the enforcement layer tells apart: the REST interactions of
 * https://hl7.org/fhir/R4/http.html, with the conditional ones
 * (https://hl7.org/fhir/R4/http.html#cond-update) and update-as-create apart because they
 * need more letters.
 */
export type AccessInteraction =
  | 'read'
  | 'vread'
  | 'history-instance'
  | 'search-type'
  | 'search-system'
  | 'search-compartment'
  | 'history-type'
  | 'history-system'
  | 'create'
  | 'update'
  | 'update-create'
  | 'patch'
  | 'delete'
  | 'conditional-create'
  | 'conditional-update'
  | 'conditional-update-create'
  | 'conditional-delete'
  | 'conditional-reference';

/**
 * The letters each interaction needs, all of them: reading by id is `r`; every search and
 * type/system history is `s`; a conditional interaction also searches (`s`); a PUT that
 * creates also needs `c`.
 */
export const INTERACTION_PERMISSIONS: Readonly<Record<AccessInteraction, readonly Permission[]>> = Object.freeze({
  read: ['r'],
  vread: ['r'],
  'history-instance': ['r'],
  'search-type': ['s'],
  'search-system': ['s'],
  'search-compartment': ['s'],
  'history-type': ['s'],
  'history-system': ['s'],
  create: ['c'],
  update: ['u'],
  'update-create': ['c', 'u'],
  patch: ['u'],
  delete: ['d'],
  'conditional-create': ['c', 's'],
  'conditional-update': ['u', 's'],
  'conditional-update-create': ['c', 'u', 's'],
  'conditional-delete': ['d', 's'],
  'conditional-reference': ['s'],
});

const LABELS: Readonly<Record<AccessInteraction, string>> = {
  read: 'read',
  vread: 'vread',
  'history-instance': 'instance history',
  'search-type': 'search',
  'search-system': 'system search',
  'search-compartment': 'compartment search',
  'history-type': 'type history',
  'history-system': 'system history',
  create: 'create',
  update: 'update',
  'update-create': 'update-as-create (a PUT that creates)',
  patch: 'patch',
  delete: 'delete',
  'conditional-create': 'conditional create (If-None-Exist)',
  'conditional-update': 'conditional update',
  'conditional-update-create': 'conditional update that creates',
  'conditional-delete': 'conditional delete',
  'conditional-reference': 'conditional reference (a search)',
};

/** The letters written in the one order the spec allows (`c r u d s`). */
function letters(permissions: readonly Permission[]): string {
  return (['c', 'r', 'u', 'd', 's'] as const).filter((p) => permissions.includes(p)).join('');
}

/**
 * The message and the RFC 6750 `scope` value of an `insufficient_scope` answer: what was
 * refused, and scopes that would allow it, in the contexts the token already uses.
 */
export function insufficientScopeText(
  type: string,
  interaction: AccessInteraction,
  missing: readonly Permission[],
  contexts: ReadonlySet<ScopeContext>,
): { description: string; scope: string } {
  const wanted = letters(INTERACTION_PERMISSIONS[interaction]);
  const on = type === '*' ? 'any resource type' : type;
  const order: ScopeContext[] = ['patient', 'user', 'system'];
  const used = order.filter((c) => contexts.has(c));
  const scope = (used.length > 0 ? used : order).map((c) => `${c}/${type}.${wanted}`).join(' ');
  const description =
    `The access token does not allow ${LABELS[interaction]} on ${on}: no scope grants ` +
    `'${letters(missing)}' on ${on}. A scope such as ${scope.split(' ').join(' or ')} would allow it`;
  return { description, scope };
}
