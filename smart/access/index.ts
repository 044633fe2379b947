/**
 * Scope enforcement in the FHIR API: the one layer every interaction that reads or changes
 * data goes through (SMART App Launch 2.x,
 * https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html).
 *
 * Controllers ask {@link accessFor} for the request's {@link AccessPolicy} and call it: the
 * interaction check (`require`, a 403 `insufficient_scope`), then the row check on what
 * they read or wrote (`assertRow`, a 403 forbidden), or they hand its conditions to the
 * search layer so that searches, includes and history are restricted in their own SQL.
 */
import type { Authorization, FhirRequest, RequestContext } from '../../server/context.js';
import { parseProvenanceHeader } from '../../server/parse/headers.js';
import type { AnyResource } from '../../server/service/types.js';
import { GrantedScopes } from '../scopes/index.js';
import type { RowRule } from './conditions.js';
import { AccessPolicy } from './policy.js';

export { assertExisting, assertRow, assertWritten, historyRestriction, includeFilter, matchRestriction, searchRows, type RowCheck } from './checks.js';
export { asWhere, type RowRule } from './conditions.js';
export { INTERACTION_PERMISSIONS, type AccessInteraction } from './interactions.js';
export { AccessPolicy } from './policy.js';

/** Most distinct scope strings whose parse is kept; past it the cache starts over. */
const GRANTED_CACHE_LIMIT = 500;
const granted = new Map<string, GrantedScopes>();

/** The parsed scopes of a token; tokens of one app carry the same string, so it is parsed once. */
function grantedScopes(scopes: string[]): GrantedScopes {
  const key = scopes.join(' ');
  let parsed = granted.get(key);
  if (parsed === undefined) {
    if (granted.size >= GRANTED_CACHE_LIMIT) granted.clear();
    parsed = new GrantedScopes(scopes);
    granted.set(key, parsed);
  }
  return parsed;
}

/** The policy of an authorization; without one (a public interaction) it allows nothing. */
export function policyFor(auth: Authorization | undefined, baseUrl: string): AccessPolicy {
  return new AccessPolicy(grantedScopes(auth?.scopes ?? []), auth?.patient, baseUrl);
}

const policies = new WeakMap<Authorization, AccessPolicy>();

/**
 * The request's access policy, built once per request (batch and transaction entries share
 * their Bundle's, as they share its authorization). A context without an authorization
 * (only `metadata` has none) gets a policy that denies everything.
 */
export function accessFor(ctx: RequestContext): AccessPolicy {
  const { auth } = ctx;
  if (auth === undefined) return policyFor(undefined, ctx.config.baseUrl);
  let policy = policies.get(auth);
  if (policy === undefined) {
    policy = policyFor(auth, ctx.config.baseUrl);
    policies.set(auth, policy);
  }
  return policy;
}

/**
 * The rows of `type` an authorization may read, for other readers of the database such as a
 * Bulk Data export (https://hl7.org/fhir/uv/bulkdata/export.html): `'all'`, `'none'`, or a
 * condition on the `resources` row aliased `r` (pass it to `query.where(...)`).
 */
export function readCondition(auth: Authorization, type: string, baseUrl: string): RowRule {
  return policyFor(auth, baseUrl).rows(type, 'r');
}

/**
 * The Provenance sent in a write's `X-Provenance` header (https://hl7.org/fhir/R4/provenance.html#header):
 * it is stored as a resource of its own, so the token must be allowed to create a Provenance.
 */
export function provenanceHeader(req: FhirRequest, ctx: RequestContext): AnyResource | undefined {
  const header = parseProvenanceHeader(req);
  if (header !== undefined) accessFor(ctx).require('Provenance', 'create');
  return header;
}
