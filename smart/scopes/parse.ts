/**
 * Parsing of SMART scope strings, v1 (`patient/Observation.read`) and v2
 * (`patient/Observation.rs?category=…`) alike
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html).
 */
import { isResourceType } from '../../server/validate/index.js';
import { ScopeError, show } from './errors.js';
import { OTHER_SCOPES, PERMISSION_ORDER, type Permission, type ResourceScope, type ScopeContext } from './types.js';

const CONTEXTS: ReadonlySet<string> = new Set<ScopeContext>(['patient', 'user', 'system']);
const OTHERS: ReadonlySet<string> = new Set(OTHER_SCOPES);

/** v1 permission words and the v2 letters they mean (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#scope-equivalence). */
const V1_PERMISSIONS: ReadonlyMap<string, readonly Permission[]> = new Map<string, readonly Permission[]>([
  ['read', ['r', 's']],
  ['write', ['c', 'u', 'd']],
  ['*', ['c', 'r', 'u', 'd', 's']],
]);

/** Every letter optional, each at most once, in the one allowed order. */
const V2_PERMISSIONS = /^c?r?u?d?s?$/;

/** A search parameter name, optionally with a modifier or chain (`code:in`, `subject.name`). */
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_\-.:]*$/;

/**
 * Something written like a resource scope but with a context this server does not know
 * (`foo/Observation.read`, `Patient/*.rs`): refused loudly rather than ignored, because an app
 * that typed it meant to ask for data and would otherwise fail later with a puzzling 403.
 */
const RESOURCE_SHAPED = /^[A-Za-z][A-Za-z0-9_-]*\/(?:\*|[A-Za-z][A-Za-z0-9]*)\.[A-Za-z*]+(?:\?.*)?$/;

/**
 * Checks the RFC 6749 scope-token charset (https://www.rfc-editor.org/rfc/rfc6749#section-3.3):
 * printable ASCII except space, `"` and `\`.
 */
function checkCharset(scope: string): void {
  if (scope.length === 0) throw new ScopeError('An empty scope is not allowed', scope);
  for (const ch of scope) {
    const code = ch.codePointAt(0) ?? 0;
    if (code >= 0x21 && code <= 0x7e && code !== 0x22 && code !== 0x5c) continue;
    const name = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
    throw new ScopeError(
      `Scope ${show(scope)} contains ${name}, which is not allowed in a scope (RFC 6749 section 3.3 allows printable ASCII except space, double quote and backslash)`,
      scope,
    );
  }
}

/**
 * Parses one scope (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html).
 *
 * Returns a {@link ResourceScope} for `patient/`, `user/` and `system/` scopes, the string itself
 * for one of {@link OTHER_SCOPES}, and `undefined` for a scope this server does not understand
 * (`email`, `launch/location`, a URL). Throws {@link ScopeError} naming the scope when it breaks
 * the RFC 6749 charset or is a malformed resource scope: `patient/Observation.rx`,
 * `patient/Nope.read`, `patient/Observation.sr` (letters out of order),
 * `patient/Observation.read?category=x` (v1 with a query), `foo/Observation.read`.
 */
export function parseScope(scope: string): ResourceScope | string | undefined {
  checkCharset(scope);
  if (OTHERS.has(scope)) return scope;
  const slash = scope.indexOf('/');
  if (slash > 0 && CONTEXTS.has(scope.slice(0, slash))) {
    return parseResourceScope(scope, scope.slice(0, slash) as ScopeContext, scope.slice(slash + 1));
  }
  if (RESOURCE_SHAPED.test(scope)) {
    throw new ScopeError(
      `Scope ${show(scope)} has an unknown context ${show(scope.slice(0, slash))}: a resource scope starts with patient/, user/ or system/`,
      scope,
    );
  }
  return undefined;
}

function parseResourceScope(raw: string, context: ScopeContext, rest: string): ResourceScope {
  const q = rest.indexOf('?');
  const head = q < 0 ? rest : rest.slice(0, q);
  const dot = head.indexOf('.');
  if (dot < 0) {
    throw new ScopeError(`Scope ${show(raw)} has no permissions: write it as ${context}/Type.rs (SMART v2) or ${context}/Type.read (SMART v1)`, raw);
  }
  const type = head.slice(0, dot);
  const perms = head.slice(dot + 1);
  if (type !== '*' && !isResourceType(type)) {
    const what = type === '' ? 'has no resource type' : `names ${show(type)}, which is not an R4 resource type`;
    throw new ScopeError(`Scope ${show(raw)} ${what} (use a resource type such as Observation, or * for all)`, raw);
  }

  let permissions: readonly Permission[];
  let version: 1 | 2;
  const v1 = V1_PERMISSIONS.get(perms);
  if (v1 !== undefined) {
    permissions = v1;
    version = 1;
  } else if (perms !== '' && V2_PERMISSIONS.test(perms)) {
    permissions = PERMISSION_ORDER.filter((p) => perms.includes(p));
    version = 2;
  } else {
    throw new ScopeError(
      `Scope ${show(raw)} has invalid permissions ${show(`.${perms}`)}: use SMART v2 letters from c, r, u, d, s, each at most once and in that order (e.g. .rs, .cruds), or SMART v1 .read, .write or .*`,
      raw,
    );
  }

  const parsed: ResourceScope = { raw, context, type, permissions: new Set(permissions), version };
  if (q >= 0) {
    if (version === 1) {
      throw new ScopeError(
        `Scope ${show(raw)} combines SMART v1 permissions (.${perms}) with a search filter: filtered scopes need SMART v2 letters, e.g. ${context}/${type}.rs?name=value`,
        raw,
      );
    }
    parsed.query = parseQuery(raw, rest.slice(q + 1));
  }
  return parsed;
}

/**
 * Parses the search filter of a granular scope
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#finer-grained-resource-constraints-using-search-parameters).
 * `+` is kept literally rather than read as a space: scopes are not form-encoded, and `+` is
 * common in codes.
 */
function parseQuery(raw: string, query: string): { raw: string; params: [string, string][] } {
  if (query === '') throw new ScopeError(`Scope ${show(raw)} has an empty search filter after "?": remove the "?" or add name=value`, raw);
  const params: [string, string][] = [];
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    if (part === '' || eq <= 0 || eq === part.length - 1) {
      throw new ScopeError(`Scope ${show(raw)} has a malformed search filter: each part after "?" must be name=value, joined by &`, raw);
    }
    const name = decode(raw, part.slice(0, eq));
    const value = decode(raw, part.slice(eq + 1));
    if (!PARAM_NAME.test(name)) {
      throw new ScopeError(`Scope ${show(raw)} has an invalid search parameter name ${show(name)} in its filter`, raw);
    }
    params.push([name, value]);
  }
  return { raw: query, params };
}

function decode(raw: string, text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new ScopeError(`Scope ${show(raw)} has a bad percent-encoding in its search filter (write % as %25)`, raw);
  }
}

/**
 * Splits a space-separated OAuth `scope` value (https://www.rfc-editor.org/rfc/rfc6749#section-3.3):
 * runs of whitespace collapse, duplicates are dropped, order is kept. Only ASCII whitespace
 * separates, so other space characters stay inside a token and the charset check reports them.
 */
export function splitScopes(scope: string | undefined): string[] {
  if (scope === undefined) return [];
  const seen = new Set<string>();
  for (const token of scope.split(/[ \t\n\f\r]+/)) if (token !== '') seen.add(token);
  return [...seen];
}

/**
 * True when `scope` is a well-formed resource scope (`patient/Observation.rs`, `system/*.read` …);
 * false for the other scopes and for anything malformed. For sorting scopes that were checked
 * before (a grant's, a request's), where a malformed one simply is not a resource scope.
 */
export function isResourceScopeText(scope: string): boolean {
  try {
    return typeof parseScope(scope) === 'object';
  } catch {
    return false;
  }
}
