/**
 * The shapes shared by the scope parser, the scope algebra and the registration/grant policy.
 *
 * Spec: SMART App Launch 2.x, "Scopes and Launch Context"
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html).
 */

/**
 * The compartment a resource scope applies to: the patient in context, whatever the signed-in
 * user may see, or a backend service acting on its own behalf
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#scopes-for-requesting-fhir-resources).
 */
export type ScopeContext = 'patient' | 'user' | 'system';

/**
 * One SMART v2 permission letter: create, read, update, delete, search
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#scopes-for-requesting-fhir-resources).
 */
export type Permission = 'c' | 'r' | 'u' | 'd' | 's';

/**
 * One parsed resource scope such as `patient/Observation.rs` or `user/*.read`
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#scopes-for-requesting-fhir-resources).
 *
 * v1 scopes are normalised to their v2 permission letters (`read` → `rs`, `write` → `cud`,
 * `*` → `cruds`) so the algebra never has to know which syntax was used; `version` only
 * records it for messages and for echoing the grant back unchanged.
 */
export interface ResourceScope {
  /** The scope exactly as written. */
  raw: string;
  context: ScopeContext;
  /** An R4 resource type, or `*` for every type. */
  type: string;
  permissions: ReadonlySet<Permission>;
  /** The syntax used: 1 for `.read`/`.write`/`.*`, 2 for `.cruds` letters. */
  version: 1 | 2;
  /**
   * Granular filter (v2 only): the query after `?`, e.g.
   * `category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory`, with its
   * percent-decoded name/value pairs in the order written
   * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#finer-grained-resource-constraints-using-search-parameters).
   */
  query?: { raw: string; params: [string, string][] };
}

/**
 * The non-resource scopes this server knows: identity
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#scopes-for-requesting-identity-data),
 * launch context
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#scopes-for-requesting-context-data)
 * and refresh tokens
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#scopes-for-requesting-a-refresh-token).
 */
export const OTHER_SCOPES: readonly string[] = Object.freeze([
  'openid',
  'fhirUser',
  'profile',
  'launch',
  'launch/patient',
  'launch/encounter',
  'offline_access',
  'online_access',
]);

/**
 * The v2 permission letters in the one order the spec allows them to be written
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#scopes-for-requesting-fhir-resources).
 */
export const PERMISSION_ORDER: readonly Permission[] = Object.freeze(['c', 'r', 'u', 'd', 's'] as const);

/** Narrows a {@link parseScope} result to a resource scope (the other results are strings or `undefined`). */
export function isResourceScope(value: ResourceScope | string | undefined): value is ResourceScope {
  return typeof value === 'object';
}
