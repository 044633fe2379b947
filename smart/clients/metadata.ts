import { checkRegistrationScopes, ScopeError, splitScopes } from '../scopes/index.js';
import { fetchUrlProblem, redirectUriProblem } from './redirect-uris.js';

/**
 * Checks RFC 7591 client metadata (plus SMART's `scope`) before a client is stored,
 * so that every stored client is one the provider accepts and a bad registration is
 * refused with an error that names the field.
 *
 * See: https://www.rfc-editor.org/rfc/rfc7591#section-2 and
 * https://hl7.org/fhir/smart-app-launch/client-confidential-asymmetric.html
 */

export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
export const AUTH_METHODS = ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;
/** SMART asymmetric client authentication algorithms. */
export const SIGNING_ALGS = ['RS384', 'ES384'] as const;

export type TokenEndpointAuthMethod = (typeof AUTH_METHODS)[number];

/** Stored client metadata: RFC 7591 fields with defaults filled in, never a secret or `scope`. */
export interface ClientMetadata {
  redirect_uris?: string[];
  grant_types: string[];
  response_types: string[];
  token_endpoint_auth_method: TokenEndpointAuthMethod;
  [field: string]: unknown;
}

/** RFC 7591 §3.2.2 error codes. */
export type ClientMetadataErrorCode = 'invalid_client_metadata' | 'invalid_redirect_uri';

/** Refused client metadata; `message` names the field and is safe to return to the registrant. */
export class ClientMetadataError extends Error {
  constructor(
    readonly code: ClientMetadataErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ClientMetadataError';
  }
}

/** Assigned by the server, never taken from the registrant (RFC 7591 §3.2.1). */
const SERVER_ASSIGNED = ['client_id', 'client_secret', 'client_id_issued_at', 'client_secret_expires_at',
  'registration_access_token', 'registration_client_uri', 'scope', 'smart_scope'];

/** URLs the registrant may give (RFC 7591 §2), and `initiate_login_uri`, the app's launch URL for EHR launch (OpenID Connect Registration §2). */
const URL_FIELDS = ['client_uri', 'logo_uri', 'tos_uri', 'policy_uri', 'initiate_login_uri'];
const STRING_FIELDS = ['client_name', 'software_id', 'software_version', 'id_token_signed_response_alg', 'token_endpoint_auth_signing_alg'];

function invalid(message: string): ClientMetadataError {
  return new ClientMetadataError('invalid_client_metadata', message);
}

function stringArray(value: unknown, field: string): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw invalid(`${field} must be an array of strings`);
  return value;
}

function isHttpUrl(value: string): boolean {
  try {
    return /^https?:$/.test(new URL(value).protocol);
  } catch {
    return false;
  }
}

function checkSimpleFields(meta: Record<string, unknown>): void {
  for (const field of [...STRING_FIELDS, ...URL_FIELDS]) {
    if (meta[field] !== undefined && typeof meta[field] !== 'string') throw invalid(`${field} must be a string`);
  }
  for (const field of URL_FIELDS) {
    const value = meta[field] as string | undefined;
    if (value !== undefined && !isHttpUrl(value)) throw invalid(`${field} must be an absolute http(s) URL`);
  }
  if (meta.contacts !== undefined) stringArray(meta.contacts, 'contacts');
}

/** grant_types and response_types, defaulted, and consistent with each other (RFC 7591 §2.1). */
function checkGrants(meta: Record<string, unknown>): { grant_types: string[]; response_types: string[] } {
  const grants = meta.grant_types === undefined ? ['authorization_code'] : [...new Set(stringArray(meta.grant_types, 'grant_types'))];
  if (grants.length === 0) throw invalid('grant_types must not be empty');
  const unknown = grants.find((g) => !(GRANT_TYPES as readonly string[]).includes(g));
  if (unknown !== undefined) throw invalid(`grant_types: "${unknown}" is not supported (use ${GRANT_TYPES.join(', ')})`);
  const code = grants.includes('authorization_code');
  if (grants.includes('refresh_token') && !code) throw invalid('grant_types: refresh_token needs authorization_code');
  const responses = meta.response_types === undefined ? (code ? ['code'] : []) : stringArray(meta.response_types, 'response_types');
  const other = responses.find((r) => r !== 'code');
  if (other !== undefined) throw invalid(`response_types: "${other}" is not supported (only code)`);
  if (code !== responses.includes('code')) throw invalid('response_types must be ["code"] exactly when grant_types has authorization_code');
  return { grant_types: grants, response_types: responses };
}

function checkRedirectUris(meta: Record<string, unknown>, grants: string[]): string[] | undefined {
  if (meta.redirect_uris === undefined) {
    if (grants.includes('authorization_code')) throw new ClientMetadataError('invalid_redirect_uri', 'redirect_uris is required for the authorization_code grant');
    return undefined;
  }
  const uris = stringArray(meta.redirect_uris, 'redirect_uris');
  if (uris.length === 0 && grants.includes('authorization_code')) throw new ClientMetadataError('invalid_redirect_uri', 'redirect_uris must not be empty');
  uris.forEach((uri, i) => {
    const problem = redirectUriProblem(uri);
    if (problem) throw new ClientMetadataError('invalid_redirect_uri', `redirect_uris[${i}] "${uri}" ${problem}`);
  });
  return uris;
}

function checkJwks(meta: Record<string, unknown>): void {
  if (meta.jwks !== undefined && meta.jwks_uri !== undefined) throw invalid('give jwks or jwks_uri, not both');
  if (meta.jwks !== undefined) {
    const keys = (meta.jwks as { keys?: unknown } | null)?.keys;
    const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
    if (!isObject(meta.jwks) || !Array.isArray(keys) || !keys.every(isObject)) throw invalid('jwks must be an object with a "keys" array of JWKs');
  }
  if (meta.jwks_uri !== undefined) {
    const problem = typeof meta.jwks_uri === 'string' ? fetchUrlProblem(meta.jwks_uri) : 'must be a string';
    if (problem) throw invalid(`jwks_uri ${problem}`);
  }
}

/** token_endpoint_auth_method and what it needs: keys for private_key_jwt (SMART asymmetric auth). */
function checkAuthMethod(meta: Record<string, unknown>, grants: string[]): TokenEndpointAuthMethod {
  const method = meta.token_endpoint_auth_method ?? 'client_secret_basic';
  if (typeof method !== 'string' || !(AUTH_METHODS as readonly string[]).includes(method)) {
    throw invalid(`token_endpoint_auth_method must be one of ${AUTH_METHODS.join(', ')}`);
  }
  // SMART Backend Services: system clients authenticate with a signed JWT only.
  if (grants.includes('client_credentials') && method !== 'private_key_jwt') {
    throw invalid('grant_types client_credentials needs token_endpoint_auth_method private_key_jwt');
  }
  checkJwks(meta);
  if (method === 'private_key_jwt' && meta.jwks === undefined && meta.jwks_uri === undefined) {
    throw invalid('token_endpoint_auth_method private_key_jwt needs jwks or jwks_uri');
  }
  const alg = meta.token_endpoint_auth_signing_alg;
  if (alg !== undefined && (method !== 'private_key_jwt' || !(SIGNING_ALGS as readonly unknown[]).includes(alg))) {
    throw invalid(`token_endpoint_auth_signing_alg must be ${SIGNING_ALGS.join(' or ')}, with private_key_jwt`);
  }
  return method as TokenEndpointAuthMethod;
}

function checkScope(value: unknown, allowWildcards: boolean): string[] {
  if (typeof value !== 'string' || value.trim() === '') throw invalid('scope is required: the space-separated scopes the client may ask for');
  const scopes = splitScopes(value);
  try {
    checkRegistrationScopes(scopes, { allowWildcards });
  } catch (err) {
    if (!(err instanceof ScopeError)) throw err;
    // The scope module's messages already quote the offending scope, safely shortened.
    throw invalid(`scope: ${err.message}`);
  }
  return scopes;
}

/**
 * Checks registration metadata and returns what to store: the metadata with defaults
 * filled in and server-assigned fields dropped, and the scopes. Throws
 * `ClientMetadataError` (RFC 7591 §3.2.2) naming the first bad field.
 */
export function checkClientMetadata(input: unknown, opts: { allowWildcards: boolean }): { metadata: ClientMetadata; scopes: string[] } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw invalid('client metadata must be a JSON object');
  const meta = input as Record<string, unknown>;
  checkSimpleFields(meta);
  const grants = checkGrants(meta);
  const redirectUris = checkRedirectUris(meta, grants.grant_types);
  const method = checkAuthMethod(meta, grants.grant_types);
  const scopes = checkScope(meta.scope, opts.allowWildcards);
  const kept = Object.fromEntries(Object.entries(meta).filter(([k]) => !SERVER_ASSIGNED.includes(k)));
  const metadata: ClientMetadata = { ...kept, ...grants, token_endpoint_auth_method: method };
  if (redirectUris !== undefined) metadata.redirect_uris = redirectUris;
  return { metadata, scopes };
}
