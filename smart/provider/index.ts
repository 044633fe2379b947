import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Config } from '../../server/config.js';
import type { Database } from '../../server/db/connect.js';
import type { SecretBox } from '../secrets.js';
import { knexAdapter, type ClientLookup } from './adapter.js';
import { accountFinder, type AccountSource } from './accounts.js';
import { assertClientAssertion, checkAudience, checkLaunch, resourceServerInfo } from './hooks.js';
import { loadSigningKeys } from './keys.js';
import { loadGrantContext } from './state.js';
import { decorateIntrospection, decorateTokenResponse, OIDC_SCOPE_EXTRA, oidcScopes, unreadableAssertionIsInvalidClient } from './token-response.js';
import { errorPage, loggedOutPage, logoutPage } from '../views/index.js';
import { OTHER_SCOPES } from '../scopes/index.js';

/**
 * The OpenID Provider / OAuth 2 authorization server of SMART App Launch 2.x, built on
 * oidc-provider and mounted at `/oauth` (its issuer is `[origin]/oauth`).
 * See https://hl7.org/fhir/smart-app-launch/ and docs/smart.md.
 */

export interface ProviderDeps {
  config: Config;
  db: Database;
  box: SecretBox;
  /** The client registry's view of enabled clients. */
  clients: ClientLookup;
  accounts: AccountSource;
}


/** Refresh tokens for `offline_access` and, bound to the sign-in session, for `online_access`. */
async function issueRefreshToken(_ctx: KoaContextWithOIDC, client: { grantTypeAllowed(t: string): boolean }, code: { scopes: Set<string> }) {
  return client.grantTypeAllowed('refresh_token') && (code.scopes.has('offline_access') || code.scopes.has('online_access'));
}

function configuration(deps: ProviderDeps, jwks: Configuration['jwks']): Configuration {
  const { config, db, box } = deps;
  const ttl = config.accessTokenTtl;
  return {
    adapter: knexAdapter(db, deps.clients),
    jwks,
    cookies: { keys: [box.derive('cookies')], long: { signed: true, sameSite: 'lax' }, short: { signed: true, sameSite: 'lax' } },
    // The non-resource scopes: resource scopes belong to the FHIR API as a resource server.
    scopes: [...OTHER_SCOPES],
    // SMART uses the code flow alone; hybrid and implicit responses would put tokens in URLs.
    responseTypes: ['code'],
    claims: { openid: ['sub'], fhirUser: ['fhirUser'], profile: ['name', 'preferred_username'] },
    // SMART puts fhirUser in the id_token of a code flow, which OpenID's conform mode would move to userinfo.
    conformIdTokenClaims: false,
    findAccount: accountFinder(deps.accounts, config.baseUrl),
    extraClientMetadata: { properties: ['smart_scope'] },
    extraParams: { aud: checkAudience(config), launch: checkLaunch(db) },
    pkce: { required: (_ctx, client) => config.pkceRequired === 'all' || client.clientAuthMethod === 'none' },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    enabledJWA: { clientAuthSigningAlgValues: ['RS384', 'ES384'], idTokenSigningAlgValues: ['RS256'] },
    assertJwtClientAuthClaimsAndHeader: assertClientAssertion(config),
    // Every authorization asks again (an EHR launch brings a new context each time): only
    // the grant the consent page just made counts, never one remembered in the session.
    loadExistingGrant: async (ctx) => {
      const grantId = (ctx.oidc.result as { consent?: { grantId?: string } } | undefined)?.consent?.grantId;
      return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
    },
    interactions: { url: (_ctx, interaction) => `/oauth/interaction/${interaction.uid}` },
    issueRefreshToken,
    expiresWithSession: async (_ctx, code) => !code.scopes.has('offline_access'),
    rotateRefreshToken: () => true,
    extraTokenClaims: async (ctx, token) => {
      if (!('grantId' in token) || typeof token.grantId !== 'string') return undefined;
      const context = await loadGrantContext(db.knex, token.grantId);
      if (!context) return undefined;
      // A token minted outside a request (by the command line) has no request to read.
      const oidc = ctx?.oidc ? oidcScopes(ctx).join(' ') : '';
      return {
        patient: context.patient,
        encounter: context.encounter,
        fhirUser: context.fhirUser,
        need_patient_banner: context.needPatientBanner,
        ...(oidc ? { [OIDC_SCOPE_EXTRA]: oidc } : {}),
      };
    },
    ttl: {
      AccessToken: ttl,
      ClientCredentials: Math.min(300, ttl),
      AuthorizationCode: 60,
      IdToken: ttl,
      Interaction: 3600,
      Session: 8 * 3600,
      RefreshToken: (_ctx, token) => (token.scopes.has('offline_access') ? config.refreshTokenTtl : 8 * 3600),
      Grant: config.refreshTokenTtl,
    },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.type = 'html';
          ctx.body = logoutPage(form);
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.type = 'html';
          ctx.body = loggedOutPage();
        },
      },
      clientCredentials: { enabled: true },
      // A pushed request comes back as a request object whose JWT `aud` (the issuer) would
      // stand in for SMART's `aud` parameter, and its extra parameters would be checked
      // twice, using up an EHR launch at the push. SMART does not use PAR.
      pushedAuthorizationRequests: { enabled: false },
      introspection: {
        enabled: true,
        // RFC 7662 §2.1: only an authenticated client learns about tokens; a public client cannot authenticate.
        allowedPolicy: async (_ctx, client) => client.clientAuthMethod !== 'none',
      },
      revocation: {
        enabled: true,
        // RFC 7009 §2.1: a client revokes only its own tokens; a public one names itself by client_id.
        allowedPolicy: async (_ctx, client, token) => {
          if (token.clientId === client.clientId) return true;
          if (client.clientAuthMethod === 'none') return false;
          throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
        },
      },
      userinfo: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => config.baseUrl,
        useGrantedResource: async () => true,
        getResourceServerInfo: resourceServerInfo(config),
      },
    },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = errorPage({ title: 'The app could not be authorized', message: `${out.error}: ${out.error_description ?? ''}` });
    },
  };
}

/** Builds the provider over the shared database; signing keys are loaded (or made) first. */
export async function createProvider(deps: ProviderDeps): Promise<Provider> {
  const jwks = await loadSigningKeys(deps.db.knex, deps.box);
  const provider = new Provider(deps.config.issuer, configuration(deps, jwks as Configuration['jwks']));
  provider.proxy = deps.config.trustProxy !== false;
  provider.use(decorateTokenResponse(deps.config));
  provider.use(decorateIntrospection(deps.config));
  provider.use(unreadableAssertionIsInvalidClient());
  return provider;
}
