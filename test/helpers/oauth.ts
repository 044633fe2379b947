import { createHash, randomBytes } from 'node:crypto';
import { fhirFetch, type TestApp } from './app.js';
import { postForm } from './auth.js';
import { Browser, forms, inputValues, type Page } from './browser.js';

/**
 * The authorization code flow by hand, over real HTTP: the request an app would send,
 * a scripted user on the sign-in and consent pages, and the token request. Each step
 * is separate so tests can break any one of them.
 */

export const PASSWORD = 'correct horse battery';

export interface Pkce {
  verifier: string;
  challenge: string;
}

export function pkce(): Pkce {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export interface TestClient {
  clientId: string;
  clientSecret?: string;
  redirectUri: string;
  scope: string;
}

/** Registers an app as an operator would; public (PKCE, no secret) unless `auth` says otherwise. */
export async function addApp(
  t: TestApp,
  scope: string,
  opts: { auth?: 'none' | 'client_secret_basic' | 'client_secret_post'; redirectUri?: string; grants?: string[] } = {},
): Promise<TestClient> {
  const redirectUri = opts.redirectUri ?? 'https://app.example/callback';
  const { client, clientSecret } = await t.app.smart.clients.add(
    {
      client_name: 'Flow test app',
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: opts.auth ?? 'none',
      grant_types: opts.grants ?? ['authorization_code', 'refresh_token'],
      scope,
    },
    { by: 'operator' },
  );
  return { clientId: client.clientId, clientSecret, redirectUri, scope };
}

let users = 0;

/** A patient record and a patient user who is it: no patient picker in their flows. */
export async function addPatientUser(t: TestApp): Promise<{ username: string; userId: string; patientId: string }> {
  const created = await fhirFetch(t, 'Patient', { method: 'POST', body: { resourceType: 'Patient', name: [{ family: 'Flow', given: [`P${++users}`] }] } });
  const patientId = created.body.id as string;
  const username = `patient-${process.pid}-${users}`;
  const user = await t.app.smart.users.add({ username, password: PASSWORD, role: 'patient', fhirUser: `Patient/${patientId}` });
  return { username, userId: user.id, patientId };
}

/** The `/oauth/auth` URL; `undefined` values leave a parameter out. */
export function authUrl(t: TestApp, client: TestClient, params: Record<string, string | undefined> = {}): string {
  const url = new URL(`${t.config.issuer}/auth`);
  const all: Record<string, string | undefined> = {
    response_type: 'code',
    client_id: client.clientId,
    redirect_uri: client.redirectUri,
    scope: client.scope,
    state: randomBytes(12).toString('base64url'),
    aud: t.base,
    code_challenge_method: 'S256',
    ...params,
  };
  for (const [k, v] of Object.entries(all)) if (v !== undefined) url.searchParams.set(k, v);
  return url.href;
}

/** Where the flow ended: at the app's redirect URI (with its query) or on a server page. */
export interface Outcome {
  page: Page;
  redirect?: URL;
}

function outcome(page: Page, redirectUri: string): Outcome {
  return page.url.startsWith(redirectUri) ? { page, redirect: new URL(page.url) } : { page };
}

export const stopAtApp = (redirectUri: string) => (u: string) => u.startsWith(redirectUri);

/** Opens the authorization URL: either the app gets an answer at once, or a server page is shown. */
export async function openAuthorization(browser: Browser, url: string, redirectUri: string): Promise<Outcome> {
  return outcome(await browser.get(url, stopAtApp(redirectUri)), redirectUri);
}

export interface AuthorizeOptions {
  username: string;
  password?: string;
  /** Scopes to leave ticked on the consent page; all of them by default. */
  grant?: string[];
  decision?: 'allow' | 'deny';
  /** Extra or overriding authorization request parameters. */
  params?: Record<string, string | undefined>;
  /** The user agent to use (keeps its sign-in session); a new one by default. */
  browser?: Browser;
}

/** Signs in and answers the consent page; returns where the browser was sent. */
export async function authorize(t: TestApp, client: TestClient, opts: AuthorizeOptions): Promise<Outcome & { state?: string }> {
  const browser = opts.browser ?? new Browser();
  const params = opts.params ?? {};
  const url = authUrl(t, client, params);
  const state = new URL(url).searchParams.get('state') ?? undefined;
  const first = await openAuthorization(browser, url, client.redirectUri);
  const stop = stopAtApp(client.redirectUri);
  // Already signed in (a browser with a session): the first page is the consent page.
  const signedIn = !first.redirect && first.page.text.includes('name="decision"');
  if (!signedIn && (first.redirect || !first.page.text.includes('name="password"'))) return { ...first, state };
  const consent = signedIn ? first.page : await browser.submit(forms(first.page)[0], { username: opts.username, password: opts.password ?? PASSWORD }, stop);
  if (!consent.text.includes('name="decision"')) return { ...outcome(consent, client.redirectUri), state };
  const scopes = opts.grant ?? inputValues(consent, 'scope');
  const done = await browser.submit(forms(consent)[0], { scope: scopes, decision: opts.decision ?? 'allow' }, stop);
  return { ...outcome(done, client.redirectUri), state };
}

/** The token request for a code; the client authenticates as it registered unless `auth` overrides. */
export async function exchange(
  t: TestApp,
  client: TestClient,
  code: string,
  verifier: string | undefined,
  opts: { auth?: 'basic' | 'post' | 'none'; secret?: string; extra?: Record<string, string> } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const form: Record<string, string> = { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, ...opts.extra };
  if (verifier !== undefined) form.code_verifier = verifier;
  return tokenRequest(t, client, form, opts);
}

/** A POST to the token endpoint as `client`. */
export async function tokenRequest(
  t: TestApp,
  client: TestClient,
  form: Record<string, string>,
  opts: { auth?: 'basic' | 'post' | 'none'; secret?: string } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const secret = opts.secret ?? client.clientSecret;
  const auth = opts.auth ?? (secret === undefined ? 'none' : 'basic');
  const headers: Record<string, string> = {};
  const body = { ...form };
  if (auth === 'none') body.client_id = client.clientId;
  if (auth === 'post') Object.assign(body, { client_id: client.clientId, client_secret: secret ?? '' });
  if (auth === 'basic') {
    const pair = `${encodeURIComponent(client.clientId)}:${encodeURIComponent(secret ?? '')}`;
    headers.authorization = `Basic ${Buffer.from(pair).toString('base64')}`;
  }
  return postForm(`${t.config.issuer}/token`, body, headers);
}

/** The whole flow with PKCE: the token response of a user who allowed (some of) the requested scopes. */
export async function authorizeWithPkce(t: TestApp, client: TestClient, opts: AuthorizeOptions): Promise<{ status: number; body: any; headers: Headers }> {
  const p = pkce();
  const out = await authorize(t, client, { ...opts, params: { code_challenge: p.challenge, ...opts.params } });
  const code = out.redirect?.searchParams.get('code');
  if (!code) throw new Error(`no code: ${out.redirect?.href ?? `${out.page.status} ${out.page.text.slice(0, 300)}`}`);
  return exchange(t, client, code, p.verifier);
}

/** The OAuth error where the flow stopped: in the redirect's query, or on the server's error page. */
export function errorOf(o: Outcome): string | undefined {
  if (o.redirect) return o.redirect.searchParams.get('error') ?? new URLSearchParams(o.redirect.hash.slice(1)).get('error') ?? undefined;
  return /(?:^|\W)([a-z_]+): /.exec(o.page.text.replace(/<[^>]+>/g, ' '))?.[1];
}

/** Refresh grant as `client`. */
export function refresh(t: TestApp, client: TestClient, refreshToken: string, extra: Record<string, string> = {}) {
  return tokenRequest(t, client, { grant_type: 'refresh_token', refresh_token: refreshToken, ...extra });
}

/** Status of a FHIR request with `token` (200 when it works, 401 when the token does not). */
export async function readStatus(t: TestApp, token: string, path: string): Promise<number> {
  return (await fhirFetch(t, path, { token })).status;
}
