/**
 * Comparing resource scopes, and the scope set a token carries as the enforcement layer sees it
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#scopes-for-requesting-fhir-resources).
 */
import { ScopeError } from './errors.js';
import { parseScope } from './parse.js';
import { isResourceScope, type Permission, type ResourceScope, type ScopeContext } from './types.js';

/**
 * True when `held` allows everything `wanted` asks for: the same context; `held.type` is `*` or
 * equal to `wanted.type`; every permission of `wanted` is in `held`; and `held` has no search
 * filter, or the same filter as `wanted` (same name/value pairs in any order).
 *
 * v1 and v2 mix freely since both are compared by permission letters
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#scope-equivalence):
 * `patient/Observation.read` covers `patient/Observation.rs` and
 * `patient/Observation.r?category=laboratory`.
 *
 * A filtered scope only covers the very same filter, not a narrower-looking one: deciding that
 * `category=laboratory&code=x` lies within `category=laboratory` would need the semantics of
 * every search parameter, and a wrong guess would widen access.
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#finer-grained-resource-constraints-using-search-parameters)
 */
export function covers(held: ResourceScope, wanted: ResourceScope): boolean {
  if (held.context !== wanted.context) return false;
  if (held.type !== '*' && held.type !== wanted.type) return false;
  for (const p of wanted.permissions) if (!held.permissions.has(p)) return false;
  if (held.query === undefined) return true;
  return wanted.query !== undefined && sameParams(held.query.params, wanted.query.params);
}

/**
 * Repeated search parameters are ANDed, so a pair written twice restricts no more than once:
 * the filters are compared as sets of pairs.
 */
function sameParams(a: readonly [string, string][], b: readonly [string, string][]): boolean {
  const key = (p: readonly [string, string]): string => `${p[0].length}:${p[0]}=${p[1]}`;
  const left = new Set(a.map(key));
  const right = new Set(b.map(key));
  if (left.size !== right.size) return false;
  for (const k of left) if (!right.has(k)) return false;
  return true;
}

/**
 * The scopes an access token carries, parsed once for the enforcement layer
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#scopes-for-requesting-fhir-resources).
 *
 * Token scopes were checked when they were granted, so the constructor never throws: a string
 * that no longer parses is skipped rather than taking the request down, and it grants nothing.
 */
export class GrantedScopes {
  /** The resource scopes, in token order, without duplicates. */
  readonly resource: readonly ResourceScope[];
  /** Every other scope string (`openid`, `launch/patient`, `offline_access`…). */
  readonly others: ReadonlySet<string>;
  /** The contexts present among {@link resource}. */
  readonly contexts: ReadonlySet<ScopeContext>;

  constructor(scopes: string[]) {
    const resource: ResourceScope[] = [];
    const others = new Set<string>();
    const seen = new Set<string>();
    for (const scope of scopes) {
      if (seen.has(scope)) continue;
      seen.add(scope);
      let parsed: ResourceScope | string | undefined;
      try {
        parsed = parseScope(scope);
      } catch (err) {
        if (err instanceof ScopeError) continue;
        throw err;
      }
      if (isResourceScope(parsed)) resource.push(parsed);
      else others.add(scope);
    }
    this.resource = Object.freeze(resource);
    this.others = others;
    this.contexts = new Set(resource.map((s) => s.context));
  }

  /**
   * The scopes that allow `permission` on `type` in `context` (same context, type equal or `*`),
   * empty when none. The caller ORs their search filters; a scope without one is unrestricted
   * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#finer-grained-resource-constraints-using-search-parameters).
   */
  allowing(context: ScopeContext, type: string, permission: Permission): ResourceScope[] {
    return this.resource.filter(
      (s) => s.context === context && (s.type === '*' || s.type === type) && s.permissions.has(permission),
    );
  }

  /** True when some scope allows `permission` on `type` in `context`, whatever its search filter. */
  allows(context: ScopeContext, type: string, permission: Permission): boolean {
    return this.resource.some(
      (s) => s.context === context && (s.type === '*' || s.type === type) && s.permissions.has(permission),
    );
  }

  /** True when the token carries exactly this non-resource scope (e.g. `openid`). */
  has(scope: string): boolean {
    return this.others.has(scope);
  }
}
