/**
 * What a client may register and what a request may be granted
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html).
 */
import { covers } from './algebra.js';
import { ScopeError, listScopes, show } from './errors.js';
import { parseScope } from './parse.js';
import { OTHER_SCOPES, isResourceScope, type ResourceScope } from './types.js';

/** The environment variable an operator sets to allow wildcard resource scopes for apps. */
const WILDCARD_SETTING = 'KILN_ALLOW_WILDCARD_SCOPES';

/** Parses a scope that must be understood: unknown scopes are errors here. */
function parseKnown(scope: string): ResourceScope | string {
  const parsed = parseScope(scope);
  if (parsed === undefined) {
    throw new ScopeError(
      `Scope ${show(scope)} is not supported by this server (supported: patient/, user/ and system/ resource scopes, ${OTHER_SCOPES.join(', ')})`,
      scope,
    );
  }
  return parsed;
}

/**
 * Wildcards in patient or user context hand an app every resource type at once, including ones
 * it never needed; backend services (`system/`) are registered by an operator and routinely need
 * everything for bulk export, so they are exempt
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#wildcard-scopes).
 */
function checkWildcard(scope: ResourceScope, allowWildcards: boolean): void {
  if (allowWildcards || scope.type !== '*' || scope.context === 'system') return;
  throw new ScopeError(
    `Scope ${show(scope.raw)} is refused: wildcard resource scopes are not allowed in patient or user context (an operator may allow them with ${WILDCARD_SETTING}=true)`,
    scope.raw,
  );
}

/**
 * Checks the scopes a client asks to register (RFC 7591 `scope`,
 * https://www.rfc-editor.org/rfc/rfc7591#section-2, or an operator's `kiln clients add`).
 *
 * Throws {@link ScopeError} naming the first scope that is malformed, unknown to this server, or
 * a wildcard resource scope in patient or user context (`patient/*.rs`, `user/*.read`) while
 * `opts.allowWildcards` is off. `system/*.rs` and `system/*.read` are always accepted
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#scopes-for-requesting-fhir-resources).
 */
export function checkRegistrationScopes(scopes: string[], opts: { allowWildcards: boolean }): void {
  for (const scope of scopes) {
    const parsed = parseKnown(scope);
    if (isResourceScope(parsed)) checkWildcard(parsed, opts.allowWildcards);
  }
}

/**
 * True when a registration with these scopes must wait for an administrator: any `user/` or
 * `system/` resource scope (access beyond one patient's own record), or `launch` (EHR launch,
 * https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#scopes-for-requesting-context-data).
 * Patient-context scopes, `launch/patient`, `launch/encounter`, `openid`, `fhirUser`, `profile`,
 * `offline_access` and `online_access` do not.
 *
 * A scope that does not parse, or that this server does not know, also needs approval: the
 * scopes should have passed {@link checkRegistrationScopes} already, and failing closed keeps a
 * missed check from turning into self-service access.
 */
export function needsApproval(scopes: string[]): boolean {
  for (const scope of scopes) {
    let parsed: ResourceScope | string | undefined;
    try {
      parsed = parseScope(scope);
    } catch (err) {
      if (err instanceof ScopeError) return true;
      throw err;
    }
    if (parsed === undefined || parsed === 'launch') return true;
    if (isResourceScope(parsed) && parsed.context !== 'patient') return true;
  }
  return false;
}

/** Registered scopes were checked when stored; one that no longer parses simply covers nothing. */
function parseRegistered(registered: string[]): ResourceScope[] {
  const out: ResourceScope[] = [];
  for (const scope of registered) {
    try {
      const parsed = parseScope(scope);
      if (isResourceScope(parsed)) out.push(parsed);
    } catch (err) {
      if (!(err instanceof ScopeError)) throw err;
    }
  }
  return out;
}

/**
 * What a request may be granted out of what the client registered: a request can only narrow
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html).
 *
 * Returns the requested scopes in request order without duplicates, or throws
 * {@link ScopeError} (OAuth `invalid_scope`, https://www.rfc-editor.org/rfc/rfc6749#section-5.2)
 * naming the first one that is malformed or unknown; a wildcard in patient or user context while
 * `opts.allowWildcards` is off (even when registered, since the operator's policy may have
 * changed since); a resource scope not covered by any registered resource scope (see
 * {@link covers}); a non-resource scope, `openid`/`fhirUser`/`profile` included, that was not
 * registered; under `client_credentials` anything but a `system/` resource scope
 * (https://hl7.org/fhir/smart-app-launch/backend-services.html); under
 * `authorization_code` a `system/` scope.
 */
export function grantableScopes(
  requested: string[],
  registered: string[],
  opts: { allowWildcards: boolean; grant: 'authorization_code' | 'client_credentials' },
): string[] {
  const registeredResources = parseRegistered(registered);
  const registeredSet = new Set(registered);
  const notRegistered = (scope: string): ScopeError =>
    new ScopeError(`Scope ${show(scope)} was not registered for this client (registered: ${listScopes(registered)})`, scope);

  const granted: string[] = [];
  const seen = new Set<string>();
  for (const scope of requested) {
    if (seen.has(scope)) continue;
    seen.add(scope);
    const parsed = parseKnown(scope);
    if (isResourceScope(parsed)) {
      checkWildcard(parsed, opts.allowWildcards);
      if (opts.grant === 'client_credentials' && parsed.context !== 'system') {
        throw new ScopeError(`Scope ${show(scope)} is refused: client_credentials grants only system/ scopes`, scope);
      }
      if (opts.grant === 'authorization_code' && parsed.context === 'system') {
        throw new ScopeError(`Scope ${show(scope)} is refused: system/ scopes are for backend services (client_credentials)`, scope);
      }
      if (!registeredResources.some((held) => covers(held, parsed))) throw notRegistered(scope);
    } else {
      if (opts.grant === 'client_credentials') {
        throw new ScopeError(`Scope ${show(scope)} is refused: client_credentials grants only system/ scopes`, scope);
      }
      if (!registeredSet.has(scope)) throw notRegistered(scope);
    }
    granted.push(scope);
  }
  return granted;
}
