import type { AdapterPayload } from 'oidc-provider';
import type Provider from 'oidc-provider';
import express from 'express';
import type { Config } from '../server/config.js';
import type { Database } from '../server/db/connect.js';
import { UserService } from './accounts/index.js';
import { BearerCheck } from './bearer.js';
import { ClientService, isLoopbackHost, type ProviderClientMetadata } from './clients/index.js';
import { smartConfiguration } from './discovery.js';
import { interactionRoutes } from './interactions/routes.js';
import { launchRoute } from './launch-route.js';
import { sweepExpired } from './provider/adapter.js';
import { createProvider } from './provider/index.js';
import { offlineAccessConsent } from './provider/offline.js';
import { registrationRoute } from './registration.js';
import { loadSecretBox, type SecretBox } from './secrets.js';

/**
 * The SMART on FHIR authorization server as one piece: the provider, the sign-in pages,
 * registration, the well-known documents and the FHIR API's token check.
 * See docs/smart.md.
 */
export interface Smart {
  provider: Provider;
  bearer: BearerCheck;
  clients: ClientService;
  users: UserService;
  box: SecretBox;
  /** The FHIR base URL: the audience of every access token. */
  audience: string;
  /** `[base]/.well-known/smart-configuration` as JSON text. */
  wellKnown: string;
  /** Deletes expired tokens, codes, sessions and replay records; returns how many. */
  sweep(): Promise<number>;
  /** Mounts everything under `/oauth` on the express app. */
  mount(app: express.Express): void;
}

/** Native apps (RFC 8252 §7): loopback and private-use redirect URIs; oidc-provider then allows any loopback port. */
function isNative(uris: string[] | undefined): boolean {
  if (!uris?.length) return false;
  return uris.every((u) => {
    const url = URL.parse(u);
    if (!url) return false;
    return (url.protocol === 'http:' && isLoopbackHost(url.hostname)) || !['http:', 'https:'].includes(url.protocol);
  });
}

/** The registry's client as oidc-provider's Client model wants it. */
function forProvider(meta: ProviderClientMetadata): AdapterPayload {
  const out: AdapterPayload = { ...(meta as unknown as AdapterPayload) };
  const grants = (meta.grant_types as string[] | undefined) ?? ['authorization_code'];
  if (!grants.includes('authorization_code')) {
    out.response_types = [];
    out.redirect_uris = [];
  }
  if (isNative(meta.redirect_uris as string[] | undefined)) out.application_type = 'native';
  // The app's launch URL is for the EHR side (kiln launch); oidc-provider would insist on https for it.
  delete out.initiate_login_uri;
  return out;
}

export async function createSmart(config: Config, db: Database): Promise<Smart> {
  const box = loadSecretBox(config);
  const clients = new ClientService(db.knex, box, { allowWildcardScopes: config.allowWildcardScopes });
  const users = new UserService(db.knex);
  const provider = await createProvider({
    config,
    db,
    box,
    clients: async (id) => {
      const meta = await clients.providerMetadata(id);
      return meta ? forProvider(meta) : undefined;
    },
    accounts: (id) => users.findById(id),
  });
  const wellKnown = JSON.stringify(smartConfiguration(config));
  const bearer = new BearerCheck(db, config.baseUrl);
  return {
    provider,
    bearer,
    clients,
    users,
    box,
    audience: config.baseUrl,
    wellKnown,
    sweep: () => sweepExpired(db.knex),
    mount(app) {
      app.use('/oauth/interaction', interactionRoutes({ config, db, box, provider, users }));
      app.use('/oauth/reg', registrationRoute(clients));
      app.use('/oauth/launch', launchRoute({ config, db, clients, users, bearer }));
      app.get('/oauth/smart-style.json', (_req, res) => void res.set('Cache-Control', 'public, max-age=3600').json(SMART_STYLE));
      app.use('/oauth/auth', offlineAccessConsent());
      app.use('/oauth', provider.callback());
    },
  };
}

/** The styling hints apps may follow (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#styling). */
const SMART_STYLE = {
  color_background: '#f6f7f9',
  color_error: '#b00020',
  color_highlight: '#0b5cad',
  color_modal_backdrop: 'rgba(0,0,0,0.4)',
  color_success: '#1b7f3b',
  color_text: '#1d1f23',
  dim_border_radius: '6px',
  dim_font_size: '16px',
  dim_spacing_size: '16px',
  font_family_body: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  font_family_heading: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
};
