/**
 * What one access token may do in the FHIR API, decided once per request
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html).
 */
import { insufficientScope } from '../bearer.js';
import { QueryEnv } from '../../server/search/query/sql.js';
import type { GrantedScopes, Permission, ResourceScope, ScopeContext } from '../scopes/index.js';
import {
  anyRule,
  anyTypeCompartmentRows,
  compartmentRows,
  everyRule,
  ofType,
  ofTypes,
  scopeRows,
  type RowRule,
} from './conditions.js';
import { INTERACTION_PERMISSIONS, insufficientScopeText, type AccessInteraction } from './interactions.js';
import { provenancePatientRows } from './provenance.js';

const CONTEXTS: readonly ScopeContext[] = ['system', 'user', 'patient'];
/** Permissions that read rows: the Provenance special case applies to these only. */
const READING: ReadonlySet<Permission> = new Set<Permission>(['r', 's']);
const REALM = 'kiln';

/**
 * The access policy of one token: which interactions it may run on which types, and which
 * rows of each type each permission reaches.
 *
 * - Interactions: an interaction on a type is allowed when, for each letter it needs
 *   (see {@link INTERACTION_PERMISSIONS}), some scope of any context grants that letter on
 *   the type or on `*`; otherwise {@link require} throws a 403 `insufficient_scope`.
 * - Rows: the rows of a type a permission reaches are the OR, over every scope granting it,
 *   of (the scope's context restriction AND its search filter). `system/` and `user/` scopes
 *   have no context restriction (user-level access lists are not modelled); `patient/` scopes
 *   reach the Patient compartment of the patient in context, and nothing without one. See
 *   https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#finer-grained-resource-constraints-using-search-parameters.
 * - Provenance is the one exception to the compartment rule: see `provenance.ts`.
 * - The encounter in context restricts nothing.
 * - Chained parameters and `_has` in a search narrow the rows returned (which are always
 *   restricted) by testing linked rows that these rules do not restrict.
 *
 * Rules are built lazily and cached per type and permission, so a request pays only for
 * what it asks; a token unrestricted for a type gets `'all'` and adds no SQL.
 */
export class AccessPolicy {
  private readonly env: QueryEnv;
  private readonly cache = new Map<string, RowRule>();

  constructor(
    readonly granted: GrantedScopes,
    /** The Patient id in context, if any. */
    readonly patient: string | undefined,
    baseUrl: string,
  ) {
    this.env = new QueryEnv(baseUrl);
  }

  /** The scopes, of every context, granting `permission` on `type`. */
  scopesFor(type: string, permission: Permission): ResourceScope[] {
    return CONTEXTS.flatMap((c) => this.granted.allowing(c, type, permission));
  }

  /** True when some scope grants `permission` on `type` (whatever rows it reaches). */
  can(type: string, permission: Permission): boolean {
    return CONTEXTS.some((c) => this.granted.allows(c, type, permission));
  }

  /** True when some scope grants `permission` on some type. */
  canAny(permission: Permission): boolean {
    return this.granted.resource.some((s) => s.permissions.has(permission));
  }

  /** Throws the 403 `insufficient_scope` (RFC 6750 §3.1) unless the token may run `interaction` on `type`. */
  require(type: string, interaction: AccessInteraction): void {
    const missing = INTERACTION_PERMISSIONS[interaction].filter((p) => !this.can(type, p));
    if (missing.length === 0) return;
    const { description, scope } = insufficientScopeText(type, interaction, missing, this.granted.contexts);
    throw insufficientScope(REALM, description, scope);
  }

  /** Throws the 403 `insufficient_scope` for an interaction no type of the token allows (system search, system history). */
  requireAny(interaction: AccessInteraction): void {
    const missing = INTERACTION_PERMISSIONS[interaction].filter((p) => !this.canAny(p));
    if (missing.length === 0) return;
    const { description, scope } = insufficientScopeText('*', interaction, missing, this.granted.contexts);
    throw insufficientScope(REALM, description, scope);
  }

  /** The rows of `type` that `permission` reaches, for a query whose row `r` is known to be of `type`. */
  rows(type: string, permission: Permission): RowRule {
    return this.cached(`${permission}:${type}`, () => {
      const scopes = this.scopesFor(type, permission);
      if (scopes.some((s) => s.context !== 'patient' && s.query === undefined)) return 'all';
      let patientRows: RowRule | undefined;
      const compartment = () => (patientRows ??= this.patientRows(type, permission));
      return anyRule(scopes.map((s) => scopeRows(this.env, s, [type], compartment)));
    });
  }

  /** The rows of any of `types` that `permission` reaches, for a query already restricted to `types`. */
  rowsOfTypes(types: readonly string[], permission: Permission): RowRule {
    if (types.length === 1) return this.rows(types[0], permission);
    if (types.every((t) => this.rows(t, permission) === 'all')) return 'all';
    return this.typedRows(types, permission);
  }

  /**
   * The rows of any type that `permission` reaches, for a query whose rows may be of any
   * type: each named type by its own rule, plus what `*` scopes reach. `withoutProvenance`
   * leaves Provenance's own rule out (the Provenance rule itself asks this about its targets).
   */
  anyRows(permission: Permission, withoutProvenance = false): RowRule {
    return this.cached(`${permission}:*${withoutProvenance ? '-Provenance' : ''}`, () => {
      const scopes = this.granted.resource.filter((s) => s.permissions.has(permission));
      const wildcard = scopes.filter((s) => s.type === '*');
      if (wildcard.some((s) => s.context !== 'patient' && s.query === undefined)) return 'all';
      const types = new Set(scopes.filter((s) => s.type !== '*').map((s) => s.type));
      if (wildcard.length > 0 && READING.has(permission)) types.add('Provenance');
      if (withoutProvenance) types.delete('Provenance');
      const typed = [...types];
      const parts = typed.length > 0 ? [this.typedRows(typed, permission)] : [];
      for (const s of wildcard) parts.push(scopeRows(this.env, s, undefined, () => anyTypeCompartmentRows(this.env, this.patient)));
      return anyRule(parts);
    });
  }

  /** The rows passing every one of `permissions` on `type`. */
  rowsForAll(type: string, permissions: readonly Permission[]): RowRule {
    return everyRule(permissions.map((p) => this.rows(type, p)));
  }

  /** Why the rows of `type` are restricted for `permissions`, for a 403's message. */
  describe(type: string, permissions: readonly Permission[]): string {
    const parts = new Set<string>();
    for (const p of permissions) {
      for (const s of this.scopesFor(type, p)) {
        if (s.context === 'patient' && this.patient === undefined) parts.add(`${s.raw} grants nothing: no patient is in context`);
        else if (s.context === 'patient') parts.add(`${s.raw} covers only the compartment of Patient/${this.patient}${s.query ? ` where ${s.query.raw}` : ''}`);
        else if (s.query) parts.add(`${s.raw} covers only resources where ${s.query.raw}`);
      }
    }
    return parts.size > 0 ? [...parts].join('; ') : `no scope reaches ${type}`;
  }

  /** Rows of several named types, each restricted by its own rule, for a query not restricted by type. */
  private typedRows(types: readonly string[], permission: Permission): RowRule {
    const whole = types.filter((t) => this.rows(t, permission) === 'all');
    const parts = types.filter((t) => !whole.includes(t)).map((t) => ofType(t, this.rows(t, permission)));
    return anyRule(whole.length > 0 ? [ofTypes(whole), ...parts] : parts);
  }

  /** What a `patient/` scope reaches on `type` (the Provenance exception included). */
  private patientRows(type: string, permission: Permission): RowRule {
    const compartment = compartmentRows(this.env, type, this.patient);
    if (type !== 'Provenance' || !READING.has(permission) || this.patient === undefined) return compartment;
    return provenancePatientRows(this.env, compartment, this.anyRows('r', true));
  }

  private cached(key: string, build: () => RowRule): RowRule {
    let rule = this.cache.get(key);
    if (rule === undefined) {
      rule = build();
      this.cache.set(key, rule);
    }
    return rule;
  }
}
