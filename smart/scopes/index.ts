/**
 * SMART on FHIR scopes: parsing (v1 and v2 syntax), comparison, the registration and grant
 * policy, and the granted scope set the enforcement layer consults
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html).
 *
 * Pure: no database or HTTP here, so the authorization server, the CLI and the FHIR API's token
 * check all share one definition of what a scope means.
 */
export { covers, GrantedScopes } from './algebra.js';
export { ScopeError } from './errors.js';
export { isResourceScopeText, parseScope, splitScopes } from './parse.js';
export { checkRegistrationScopes, grantableScopes, needsApproval } from './policy.js';
export { isResourceScope, OTHER_SCOPES, PERMISSION_ORDER, type Permission, type ResourceScope, type ScopeContext } from './types.js';
