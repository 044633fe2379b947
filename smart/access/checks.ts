/**
 * Applying the row rules where data is read or written: single rows by id, history,
 * searches, includes and the searches of conditional interactions
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html).
 *
 * Every check is SQL on the same condition, never a filter applied to rows afterwards: a
 * search's paging and totals, and a write's transaction, then agree with it.
 */
import type { Executor } from '../../server/db/store.js';
import { forbidden } from '../../server/errors.js';
import type { IncludeFilter } from '../../server/search/query/index.js';
import { never, type QB, type Where } from '../../server/search/query/sql.js';
import type { Permission } from '../scopes/index.js';
import { asWhere, type RowRule } from './conditions.js';
import { INTERACTION_PERMISSIONS, type AccessInteraction } from './interactions.js';
import type { AccessPolicy } from './policy.js';

/** What a row check is for, for the 403's message. */
export interface RowCheck {
  /** The verb refused: `read`, `update`, `create`… */
  action: string;
  /** True when the row checked is the one just written (the write is then undone). */
  written?: boolean;
}

/**
 * Passes when the current, live row `type/id` meets the rules of every one of
 * `permissions`; otherwise throws a 403 (`forbidden`: the token may run the interaction,
 * but not on this resource). A token unrestricted for the type costs no query at all.
 */
export async function assertRow(
  policy: AccessPolicy,
  exec: Executor,
  type: string,
  id: string,
  permissions: readonly Permission[],
  check: RowCheck,
): Promise<void> {
  const rule = policy.rowsForAll(type, permissions);
  if (rule === 'all') return;
  if (rule !== 'none') {
    const q = exec('resources as r').first('r.id').where('r.resource_type', type).where('r.id', id).where('r.deleted', false);
    if (await q.where((w: QB) => rule(w))) return;
  }
  const why = policy.describe(type, permissions);
  throw forbidden(
    check.written
      ? `The access token may not ${check.action} ${type}/${id}: the resource as written is outside what it may ${check.action} (${why}); nothing was written`
      : `${type}/${id} is outside what this access token may ${check.action} (${why})`,
  );
}

/**
 * After a create, update or patch, inside its transaction: the token may run `interaction`
 * (an update that turned out to create needs `c` too), and the row as written meets the
 * rules of its write letters. The index rows are written in the same transaction, so the
 * same condition as a search's holds here; the 403 then rolls the write back.
 */
export async function assertWritten(policy: AccessPolicy, exec: Executor, type: string, id: string, interaction: AccessInteraction): Promise<void> {
  policy.require(type, interaction);
  const letters = INTERACTION_PERMISSIONS[interaction].filter((p) => p !== 'r' && p !== 's');
  await assertRow(policy, exec, type, id, letters, { action: letters.includes('c') ? 'create' : 'update', written: true });
}

/**
 * Before an update, patch or delete: when a live row `type/id` exists, it must meet the
 * rule of `permission` (the token may not change what it could not reach). Nothing to
 * check when the row is absent or deleted: the write then creates, which is checked on
 * the written row.
 */
export async function assertExisting(policy: AccessPolicy, exec: Executor, type: string, id: string, permission: Permission, action: string): Promise<void> {
  if (policy.rows(type, permission) === 'all') return;
  const row = (await exec('resources').first('deleted').where({ resource_type: type, id })) as { deleted: boolean | number } | undefined;
  if (!row || Boolean(row.deleted)) return;
  await assertRow(policy, exec, type, id, [permission], { action });
}

/**
 * The rows a search may return (type, compartment or system search), after checking that
 * the token may search each type asked. A system search without `_type` searches what the
 * token may search; it fails only when that is no type at all.
 */
export function searchRows(policy: AccessPolicy, types: string[] | undefined, interaction: AccessInteraction): RowRule {
  if (types === undefined) {
    policy.requireAny(interaction);
    return policy.anyRows('s');
  }
  for (const type of types) policy.require(type, interaction);
  return policy.rowsOfTypes(types, 's');
}

/**
 * The include filter of a search: an included row must be one the token may read (`r`) by
 * the rule of its own type; a type it may not read is never queried.
 */
export function includeFilter(policy: AccessPolicy): IncludeFilter {
  return (type) => (type === undefined ? policy.anyRows('r') : policy.rows(type, 'r'));
}

/**
 * The extra condition on a conditional interaction's search (or a transaction's
 * conditional reference): only rows the token may search can match.
 */
export function matchRestriction(policy: AccessPolicy, type: string): Where | undefined {
  return asWhere(policy.rows(type, 's'));
}

/**
 * The restriction of type or system history (alias `h`) to versions of resources whose
 * current row the token may search; `undefined` when the token sees every row.
 * A deleted resource has no index rows, so under a compartment or filter rule its history
 * is no longer visible.
 */
export function historyRestriction(policy: AccessPolicy, type: string | undefined): ((q: QB) => void) | undefined {
  const rule = type === undefined ? policy.anyRows('s') : policy.rows(type, 's');
  if (rule === 'all') return undefined;
  if (rule === 'none') return never;
  const current = function (this: QB): void {
    if (type === undefined) this.select('r.resource_type', 'r.id').from('resources as r');
    else this.select('r.id').from('resources as r').where('r.resource_type', type);
    this.where((w: QB) => rule(w));
  };
  if (type !== undefined) return (q) => void q.whereIn('h.id', current);
  return (q) => void q.whereIn(['h.resource_type', 'h.id'] as unknown as string, current);
}
