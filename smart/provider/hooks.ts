import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { Config } from '../../server/config.js';
import type { Database } from '../../server/db/connect.js';
import { useLaunch } from '../launch.js';
import { grantableScopes, isResourceScopeText, ScopeError, splitScopes } from '../scopes/index.js';

/**
 * The SMART rules oidc-provider has no setting for, as the hooks it calls: the `aud`
 * and `launch` parameters of the authorization request, which scopes a client may be
 * granted, the resource server (the FHIR API) tokens are for, and the checks on
 * `private_key_jwt` assertions.
 */

type Ctx = KoaContextWithOIDC;
/** The client as oidc-provider holds it, with the SMART scopes fixed at registration. */
type SmartClient = { clientId: string; clientAuthMethod?: string; jwksUri?: string; smart_scope?: unknown };

export function registeredScopes(client: SmartClient | undefined): string[] {
  return typeof client?.smart_scope === 'string' ? splitScopes(client.smart_scope) : [];
}


/** Maps a scope problem to OAuth's `invalid_scope` (RFC 6749 §4.1.2.1). */
function checkedScopes(requested: string[], client: SmartClient, config: Config, grant: 'authorization_code' | 'client_credentials'): string[] {
  try {
    return grantableScopes(requested, registeredScopes(client), { allowWildcards: config.allowWildcardScopes, grant });
  } catch (err) {
    // RFC 6749 §5.2 leaves `"` and `\` out of error_description.
    if (err instanceof ScopeError) throw new errors.InvalidScope(err.message.replace(/"/g, "'").replace(/\\/g, '/'), err.scope ?? '');
    throw err;
  }
}

/**
 * `aud` (required by SMART, https://hl7.org/fhir/smart-app-launch/app-launch.html#request-4)
 * must name this FHIR server, so a token meant for us cannot be phished for another;
 * the scopes are checked here too, before anyone signs in.
 */
export function checkAudience(config: Config) {
  return async (ctx: Ctx, value: string | undefined, client: SmartClient): Promise<void> => {
    if (value === undefined || value === '') throw new errors.InvalidRequest(`aud is required and must be the FHIR base URL ${config.baseUrl}`);
    if (value.replace(/\/+$/, '') !== config.baseUrl) throw new errors.InvalidRequest(`aud must be the FHIR base URL ${config.baseUrl}, not ${value.slice(0, 200)}`);
    const requested = splitScopes(ctx.oidc.params?.scope as string | undefined);
    if (requested.length === 0) throw new errors.InvalidScope('scope is required', '');
    checkedScopes(requested, client, config, 'authorization_code');
    if (requested.includes('launch') && !ctx.oidc.params?.launch) {
      throw new errors.InvalidRequest('the launch scope is for EHR launch and needs the launch parameter the EHR gave the app');
    }
  };
}

/** `launch` (EHR launch): an unused, unexpired launch made for this client. It is used up here. */
export function checkLaunch(db: Database) {
  return async (ctx: Ctx, value: string | undefined, client: SmartClient): Promise<void> => {
    if (value === undefined) return;
    const launch = await useLaunch(db.knex, value, client.clientId);
    if (typeof launch === 'string') throw new errors.InvalidRequest(launch);
  };
}

/** Every scope the request, code, refresh token or grant names: the candidates for the resource server's scope. */
function candidateScopes(ctx: Ctx): string[] {
  const out = new Set<string>();
  const add = (s: unknown) => typeof s === 'string' && splitScopes(s).forEach((x) => out.add(x));
  add(ctx.oidc.params?.scope);
  const e = ctx.oidc.entities as Record<string, { scope?: unknown } | undefined>;
  add(e.AuthorizationCode?.scope);
  add(e.RefreshToken?.scope);
  return [...out];
}

/**
 * The FHIR API as oidc-provider's resource server (RFC 8707): every access token is for
 * it. Its scope is what this request may get: for client_credentials the requested
 * system scopes, checked against the registration; otherwise the resource scopes the
 * authorization request asked for and passed `checkAudience`.
 */
export function resourceServerInfo(config: Config) {
  return async (ctx: Ctx, resource: string, client: SmartClient) => {
    if (resource.replace(/\/+$/, '') !== config.baseUrl) throw new errors.InvalidTarget(`the only resource is the FHIR base URL ${config.baseUrl}`);
    const clientCredentials = ctx.oidc.route === 'token' && ctx.oidc.params?.grant_type === 'client_credentials';
    let scope: string[];
    if (clientCredentials) {
      const requested = splitScopes(ctx.oidc.params?.scope as string | undefined);
      if (requested.length === 0) throw new errors.InvalidScope('scope is required (system/ scopes, e.g. system/*.rs)', '');
      scope = checkedScopes(requested, client, config, 'client_credentials');
    } else {
      scope = candidateScopes(ctx).filter(isResourceScopeText);
    }
    return {
      scope: scope.join(' '),
      audience: config.baseUrl,
      accessTokenTTL: clientCredentials ? Math.min(300, config.accessTokenTtl) : config.accessTokenTtl,
      accessTokenFormat: 'opaque' as const,
    };
  };
}

/**
 * SMART's rules for client assertions (https://hl7.org/fhir/smart-app-launch/client-confidential-asymmetric.html#authenticating-to-the-token-endpoint)
 * beyond what oidc-provider checks (signature, iss, exp present, jti replay): `sub` is the
 * client id, `aud` is the token URL, `exp` at most five minutes ahead, a `kid` header,
 * and a `jku` header only when it is the registered JWKS URL.
 */
export function assertClientAssertion(config: Config) {
  return async (ctx: Ctx, claims: Record<string, unknown>, header: Record<string, unknown>, client: SmartClient): Promise<void> => {
    const fail = (why: string) => new errors.InvalidClientAuth(why);
    if (claims.sub !== client.clientId) throw fail('sub (JWT subject) must be the client_id');
    const tokenUrl = `${config.issuer}/token`;
    const endpoint = `${config.issuer}${ctx.path}`;
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!aud.includes(tokenUrl) && !aud.includes(endpoint)) throw fail(`aud (JWT audience) must be the token URL ${tokenUrl}`);
    if (typeof claims.exp !== 'number' || claims.exp > Date.now() / 1000 + 300 + 15) throw fail('exp must be at most five minutes in the future');
    if (typeof header.kid !== 'string' || header.kid === '') throw fail('the client assertion must name its key (kid header)');
    if (header.jku !== undefined && header.jku !== client.jwksUri) throw fail('jku must be the JWKS URL registered for the client');
  };
}
