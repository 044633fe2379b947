/**
 * API clients: registration metadata checks (RFC 7591, https://www.rfc-editor.org/rfc/rfc7591#section-2),
 * redirect URI rules (RFC 8252, https://www.rfc-editor.org/rfc/rfc8252#section-7) and the stored registry.
 */
export { AUTH_METHODS, checkClientMetadata, ClientMetadataError, GRANT_TYPES, SIGNING_ALGS } from './metadata.js';
export type { ClientMetadata, ClientMetadataErrorCode, TokenEndpointAuthMethod } from './metadata.js';
export { fetchUrlProblem, isLoopbackHost, redirectUriProblem } from './redirect-uris.js';
export { ClientNotFoundError, ClientService, ClientStatusError } from './service.js';
export type { ClientStatus, ProviderClientMetadata, RegisteredBy, StoredClient } from './service.js';
