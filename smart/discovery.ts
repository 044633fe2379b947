import type { CapabilityStatementRestSecurity } from 'fhir/r4';
import type { Config } from '../server/config.js';

type DiscoveryConfig = Pick<Config, 'issuer' | 'allowWildcardScopes'>;

/**
 * The SMART App Launch 2.x metadata document served at `[base]/.well-known/smart-configuration`.
 * See: https://hl7.org/fhir/smart-app-launch/conformance.html#metadata
 */
export interface SmartConfiguration {
  issuer: string;
  jwks_uri: string;
  authorization_endpoint: string;
  token_endpoint: string;
  token_endpoint_auth_methods_supported: string[];
  token_endpoint_auth_signing_alg_values_supported: string[];
  grant_types_supported: string[];
  registration_endpoint: string;
  userinfo_endpoint: string;
  scopes_supported: string[];
  response_types_supported: string[];
  introspection_endpoint: string;
  revocation_endpoint: string;
  code_challenge_methods_supported: string[];
  capabilities: string[];
}

/**
 * The capability codes this server implements.
 * See: https://hl7.org/fhir/smart-app-launch/conformance.html#capabilities
 */
export const SMART_CAPABILITIES: readonly string[] = [
  'launch-ehr',
  'launch-standalone',
  'client-public',
  'client-confidential-symmetric',
  'client-confidential-asymmetric',
  'context-ehr-patient',
  'context-ehr-encounter',
  'context-standalone-patient',
  'permission-offline',
  'permission-online',
  'permission-patient',
  'permission-user',
  'permission-v1',
  'permission-v2',
  'sso-openid-connect',
  'authorize-post',
  'context-banner',
  'context-style',
];

/** Scopes that name no resource: identity, launch context and token lifetime. */
const CONTEXT_SCOPES = ['openid', 'fhirUser', 'profile', 'launch', 'launch/patient', 'launch/encounter', 'offline_access', 'online_access'];

/**
 * The oidc-provider routes under the issuer. Kept in one place so the discovery
 * document and the CapabilityStatement can never disagree.
 * See: https://hl7.org/fhir/smart-app-launch/conformance.html#using-well-known
 */
export function oauthEndpoints(issuer: string) {
  return {
    authorize: `${issuer}/auth`,
    token: `${issuer}/token`,
    introspect: `${issuer}/token/introspection`,
    revoke: `${issuer}/token/revocation`,
    register: `${issuer}/reg`,
    jwks: `${issuer}/jwks`,
    userinfo: `${issuer}/me`,
  };
}

/**
 * The `.well-known/smart-configuration` document.
 * `scopes_supported` lists only what a client can actually be granted: the context scopes,
 * the system wildcards backend services use, and the patient/user wildcards only when
 * `KILN_ALLOW_WILDCARD_SCOPES` permits them; named resource scopes are too many to list.
 * See: https://hl7.org/fhir/smart-app-launch/conformance.html#metadata
 */
export function smartConfiguration(config: DiscoveryConfig): SmartConfiguration {
  const e = oauthEndpoints(config.issuer);
  const wildcards = config.allowWildcardScopes ? ['patient/*.rs', 'patient/*.read', 'user/*.rs', 'user/*.read'] : [];
  return {
    issuer: config.issuer,
    jwks_uri: e.jwks,
    authorization_endpoint: e.authorize,
    token_endpoint: e.token,
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    // SMART asymmetric client authentication requires RS384 and ES384.
    token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
    grant_types_supported: ['authorization_code', 'client_credentials', 'refresh_token'],
    registration_endpoint: e.register,
    userinfo_endpoint: e.userinfo,
    scopes_supported: [...CONTEXT_SCOPES, 'system/*.rs', 'system/*.read', ...wildcards],
    response_types_supported: ['code'],
    introspection_endpoint: e.introspect,
    revocation_endpoint: e.revoke,
    // SMART 2 forbids `plain`.
    code_challenge_methods_supported: ['S256'],
    capabilities: [...SMART_CAPABILITIES],
  };
}

/** The SMART extension that carries the OAuth endpoints in a CapabilityStatement. */
export const OAUTH_URIS = 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris';

/**
 * `CapabilityStatement.rest[0].security`: declares SMART on FHIR and its OAuth endpoints,
 * for clients that read the CapabilityStatement instead of `.well-known/smart-configuration`.
 * See: https://hl7.org/fhir/smart-app-launch/conformance.html#declaring-support-for-oauth2-endpoints
 */
export function capabilitySecurity(config: Pick<Config, 'issuer' | 'baseUrl'>): CapabilityStatementRestSecurity {
  const e = oauthEndpoints(config.issuer);
  return {
    cors: true,
    service: [
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR', display: 'SMART-on-FHIR' }],
        text: 'OAuth2 using SMART-on-FHIR profile (see https://hl7.org/fhir/smart-app-launch/)',
      },
    ],
    extension: [
      {
        url: OAUTH_URIS,
        extension: [
          { url: 'authorize', valueUri: e.authorize },
          { url: 'token', valueUri: e.token },
          { url: 'register', valueUri: e.register },
          { url: 'revoke', valueUri: e.revoke },
          { url: 'introspect', valueUri: e.introspect },
        ],
      },
    ],
    description: `SMART App Launch 2 authorization (OAuth 2.0 and OpenID Connect). Discovery: ${config.baseUrl}/.well-known/smart-configuration; authorization server ${config.issuer}.`,
  };
}
