import { randomUUID, type KeyObject } from 'node:crypto';
import { exportJWK, SignJWT, type JWK } from 'jose';
import type { App } from '../../server/app.js';
import { newKeyPair } from '../../smart/key-pairs.js';
import { saveGrantContext } from '../../smart/provider/state.js';

/**
 * Tokens for tests, through the real provider: a backend-services client registered as
 * an operator would, and the client_credentials grant with a private_key_jwt assertion
 * (https://hl7.org/fhir/smart-app-launch/backend-services.html).
 */

export interface KeyPair {
  privateKey: KeyObject;
  publicJwk: JWK;
  kid: string;
  alg: 'RS384' | 'ES384';
}

const cache = new Map<string, Promise<KeyPair>>();

/** A signing key pair (one per algorithm per test file: RSA keys are slow to make). */
export function keyPair(alg: 'RS384' | 'ES384' = 'RS384', fresh = false): Promise<KeyPair> {
  const make = async (): Promise<KeyPair> => {
    // Not jose's generateKeyPair: see smart/key-pairs.ts.
    const { privateKey, publicKey } = newKeyPair(alg === 'RS384' ? { type: 'rsa', modulusLength: 2048 } : { type: 'ec', namedCurve: 'P-384' });
    const kid = randomUUID();
    return { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }, kid, alg };
  };
  if (fresh) return make();
  if (!cache.has(alg)) cache.set(alg, make());
  return cache.get(alg) as Promise<KeyPair>;
}

export interface BackendClient {
  clientId: string;
  key: KeyPair;
}

/** Registers an enabled backend-services client with an inline JWKS. */
export async function addBackendClient(app: App, scope: string, key?: KeyPair, extra: Record<string, unknown> = {}): Promise<BackendClient> {
  const k = key ?? (await keyPair());
  const { client } = await app.smart.clients.add(
    { client_name: 'test backend', grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [k.publicJwk] }, scope, ...extra },
    { by: 'operator' },
  );
  return { clientId: client.clientId, key: k };
}

/** A signed client assertion (RFC 7523) for the token endpoint; `claims`/`header` override the defaults. */
export async function clientAssertion(c: BackendClient, tokenUrl: string, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: c.clientId, sub: c.clientId, aud: tokenUrl, jti: randomUUID(), exp: now + 240, ...claims })
    .setProtectedHeader({ alg: c.key.alg, kid: c.key.kid, typ: 'JWT', ...header })
    .sign(c.key.privateKey);
}

/** POSTs a form to a URL and returns status and JSON body. */
export async function postForm(url: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form) });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body, headers: res.headers };
}

/** The client_credentials grant: the whole token response. */
export async function clientCredentials(c: BackendClient, issuer: string, scope: string): Promise<{ status: number; body: any; headers: Headers }> {
  const tokenUrl = `${issuer}/token`;
  return postForm(tokenUrl, {
    grant_type: 'client_credentials',
    scope,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await clientAssertion(c, tokenUrl),
  });
}

/** An access token with `scope` for a new backend client registered with that scope. */
export async function backendToken(app: App, scope = 'system/*.*'): Promise<string> {
  const client = await addBackendClient(app, scope);
  const res = await clientCredentials(client, app.smart.provider.issuer, scope);
  if (res.status !== 200) throw new Error(`client_credentials failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.access_token as string;
}

export interface UserTokenOptions {
  /** Resource and launch scopes the token carries (space-separated). */
  scope: string;
  /** Patient id in context. */
  patient?: string;
  encounter?: string;
  /** The user's FHIR resource (`Practitioner/7`); a user with it is made for the token. */
  fhirUser?: string;
  role?: 'admin' | 'practitioner' | 'patient';
}

let users = 0;

/**
 * An access token as the authorization code flow would issue it (a user, a client, a
 * grant with its launch context), made directly through the provider's models so that
 * enforcement tests need not click through the sign-in pages each time. The flows
 * themselves are tested end to end elsewhere.
 */
export async function userToken(app: App, opts: UserTokenOptions): Promise<{ token: string; clientId: string; userId: string }> {
  const { provider, clients } = app.smart;
  const base = app.smart.audience;
  const role = opts.role ?? (opts.fhirUser?.startsWith('Patient/') ? 'patient' : 'practitioner');
  const user = await app.smart.users.add({ username: `user-${process.pid}-${++users}`, password: 'long enough password', role, fhirUser: opts.fhirUser });
  const { client } = await clients.add(
    { client_name: 'test app', redirect_uris: ['http://127.0.0.1/callback'], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], scope: opts.scope },
    { by: 'operator' },
  );
  const resourceScopes = opts.scope.split(' ').filter((s) => /^(patient|user|system)\//.test(s)).join(' ');
  const grant = new provider.Grant({ accountId: user.id, clientId: client.clientId });
  grant.addResourceScope(base, resourceScopes);
  const grantId = await grant.save();
  await saveGrantContext(app.db.knex, grantId, { patient: opts.patient, encounter: opts.encounter, fhirUser: opts.fhirUser, needPatientBanner: true }, 3600);
  const providerClient = await provider.Client.find(client.clientId);
  if (!providerClient) throw new Error('client not found by the provider');
  const at = new provider.AccessToken({ accountId: user.id, client: providerClient, grantId, gty: 'authorization_code', scope: resourceScopes });
  at.resourceServer = new provider.ResourceServer(base, { scope: resourceScopes, audience: base, accessTokenFormat: 'opaque', accessTokenTTL: 3600 });
  return { token: await at.save(), clientId: client.clientId, userId: user.id };
}
