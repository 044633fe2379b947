import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Config } from '../../server/config.js';

/**
 * SMART's additions to the token response (https://hl7.org/fhir/smart-app-launch/app-launch.html#response-5):
 * the launch context (`patient`, `encounter`), `need_patient_banner`, `smart_style_url`,
 * and a `scope` that lists everything granted: oidc-provider puts only the FHIR API's
 * scopes there, because with resource indicators the OpenID scopes are not the API's.
 * The introspection response gets the same `scope`, and errors their RFC names.
 */

interface TokenBody {
  access_token?: string;
  scope?: string;
  [key: string]: unknown;
}

type TokenLike = { extra?: Record<string, unknown>; scope?: string } | undefined;

/**
 * Where an access token keeps the OpenID and launch scopes of its token response: its own
 * `scope` holds only the FHIR API's, and introspection must show them all.
 */
export const OIDC_SCOPE_EXTRA = 'kiln_oidc_scope';

/**
 * The OpenID and launch scopes granted with the token, in the order they were asked: a
 * refresh request that names a narrower `scope` gets only those (RFC 6749 §6).
 */
export function oidcScopes(ctx: KoaContextWithOIDC): string[] {
  const e = ctx.oidc.entities as Record<string, { scope?: string; getOIDCScope?: () => string } | undefined>;
  const narrowed = ctx.oidc.params?.grant_type === 'refresh_token' ? ctx.oidc.params.scope : undefined;
  const source = (typeof narrowed === 'string' && narrowed !== '' ? narrowed : undefined) ?? e.AuthorizationCode?.scope ?? e.RefreshToken?.scope ?? '';
  const granted = new Set((e.Grant?.getOIDCScope?.() ?? '').split(' ').filter(Boolean));
  return source.split(' ').filter((s) => granted.has(s));
}

type GrantClient = { grantTypeAllowed(grantType: string): boolean } | undefined;

/**
 * oidc-provider answers a grant type the authenticated client was not registered for
 * with `invalid_request`; RFC 6749 §5.2 names that case `unauthorized_client`.
 */
function renameUnauthorizedClient(ctx: KoaContextWithOIDC): void {
  const body = ctx.body as { error?: unknown } | undefined;
  const grantType = ctx.oidc.params?.grant_type;
  const client = ctx.oidc.client as GrantClient;
  if (body?.error !== 'invalid_request' || typeof grantType !== 'string' || !client) return;
  if (!client.grantTypeAllowed(grantType)) body.error = 'unauthorized_client';
}

/** A post-middleware on the token endpoint that adds the SMART fields. */
export function decorateTokenResponse(config: Config) {
  return async (ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> => {
    await next();
    if (ctx.oidc?.route === 'token' && ctx.status === 400 && typeof ctx.body === 'object') renameUnauthorizedClient(ctx);
    if (ctx.oidc?.route !== 'token' || ctx.status !== 200) return;
    const body = ctx.body as TokenBody | undefined;
    if (!body || typeof body !== 'object' || typeof body.access_token !== 'string') return;
    ctx.set('Pragma', 'no-cache');
    ctx.set('Cache-Control', 'no-store');
    const e = ctx.oidc.entities as Record<string, TokenLike>;
    const token = e.AccessToken;
    if (!token) return;
    const extra = token.extra ?? {};
    if (typeof extra.patient === 'string') body.patient = extra.patient;
    if (typeof extra.encounter === 'string') body.encounter = extra.encounter;
    if (typeof extra.need_patient_banner === 'boolean') body.need_patient_banner = extra.need_patient_banner;
    body.smart_style_url = `${config.issuer}/smart-style.json`;
    const scopes = [...oidcScopes(ctx), ...(body.scope ?? '').split(' ').filter(Boolean)];
    body.scope = [...new Set(scopes)].join(' ');
  };
}

interface IntrospectionBody {
  active?: unknown;
  scope?: string;
  fhirUser?: unknown;
  [key: string]: unknown;
}

/**
 * SMART's rules for the introspection response (https://hl7.org/fhir/smart-app-launch/token-introspection.html):
 * `scope` as in the token response, and `fhirUser` as the id_token carried it (an
 * absolute URL, and only when `openid fhirUser` was granted).
 */
export function decorateIntrospection(config: Config) {
  return async (ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> => {
    await next();
    if (ctx.oidc?.route !== 'introspection' || ctx.status !== 200) return;
    const body = ctx.body as IntrospectionBody | undefined;
    if (!body || typeof body !== 'object' || body.active !== true) return;
    const stored = body[OIDC_SCOPE_EXTRA];
    delete body[OIDC_SCOPE_EXTRA];
    const oidc = typeof stored === 'string' ? stored.split(' ').filter(Boolean) : [];
    if (oidc.length) body.scope = [...new Set([...oidc, ...(body.scope ?? '').split(' ').filter(Boolean)])].join(' ');
    if (body.fhirUser === undefined) return;
    if (typeof body.fhirUser === 'string' && oidc.includes('openid') && oidc.includes('fhirUser')) body.fhirUser = `${config.baseUrl}/${body.fhirUser}`;
    else delete body.fhirUser;
  };
}

/**
 * A `client_assertion` that is not a JWT at all fails client authentication like any other
 * bad assertion: `invalid_client` with 401 (RFC 7523 §3.2, RFC 6749 §5.2), where
 * oidc-provider answers `invalid_request` because it rejects it before a client is known.
 */
export function unreadableAssertionIsInvalidClient() {
  return async (ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> => {
    await next();
    const body = ctx.body as { error?: string; error_description?: string } | undefined;
    if (ctx.status !== 400 || body?.error !== 'invalid_request' || body.error_description !== 'invalid client_assertion format') return;
    ctx.status = 401;
    ctx.body = { error: 'invalid_client', error_description: 'client authentication failed: the client_assertion is not a JWT' };
  };
}
