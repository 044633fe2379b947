import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Config } from '../../server/config.js';

/**
 * SMART's additions to the token response (https://hl7.org/fhir/smart-app-launch/app-launch.html#response-5):
 * the launch context (`patient`, `encounter`), `need_patient_banner`, `smart_style_url`,
 * and a `scope` that lists everything granted: oidc-provider puts only the FHIR API's
 * scopes there, because with resource indicators the OpenID scopes are not the API's.
 */

interface TokenBody {
  access_token?: string;
  scope?: string;
  [key: string]: unknown;
}

type TokenLike = { extra?: Record<string, unknown>; scope?: string } | undefined;

/** The OpenID and launch scopes granted with the token, in the order they were asked. */
function oidcScopes(ctx: KoaContextWithOIDC): string[] {
  const e = ctx.oidc.entities as Record<string, { scope?: string; getOIDCScope?: () => string } | undefined>;
  const source = e.AuthorizationCode?.scope ?? e.RefreshToken?.scope ?? '';
  const granted = new Set((e.Grant?.getOIDCScope?.() ?? '').split(' ').filter(Boolean));
  return source.split(' ').filter((s) => granted.has(s));
}

/** A post-middleware on the token endpoint that adds the SMART fields. */
export function decorateTokenResponse(config: Config) {
  return async (ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> => {
    await next();
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
