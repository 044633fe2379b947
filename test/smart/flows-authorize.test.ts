import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { Browser } from '../helpers/browser.js';
import { addApp, addPatientUser, authorize, authUrl, errorOf, openAuthorization, pkce, type TestClient } from '../helpers/oauth.js';
import { ClientService } from '../../smart/clients/index.js';
import { AUTH_TABLES } from '../../smart/db/schema.js';
import { createLaunch } from '../../smart/launch.js';

/**
 * The authorization request (https://hl7.org/fhir/smart-app-launch/app-launch.html#request-4):
 * every malformed or disallowed request is refused before anyone is asked to sign in,
 * with the OAuth error sent to the app's registered redirect URI (RFC 6749 §4.1.2.1)
 * or, when that URI cannot be trusted, shown on the server's own page.
 */

const SCOPE = 'openid fhirUser patient/Patient.rs patient/Observation.rs';

/** A request that must be refused with `error` before any sign-in page. */
async function refused(t: TestApp, client: TestClient, params: Record<string, string | undefined>, error: string) {
  const out = await openAuthorization(new Browser(), authUrl(t, client, params), client.redirectUri);
  expect(out.page.text).not.toContain('name="password"');
  expect(errorOf(out)).toBe(error);
  return out;
}

/** A request that reaches the sign-in page. */
async function reachesLogin(t: TestApp, client: TestClient, params: Record<string, string | undefined>) {
  const out = await openAuthorization(new Browser(), authUrl(t, client, params), client.redirectUri);
  expect(out.redirect?.href).toBeUndefined();
  expect(out.page.status).toBe(200);
  expect(out.page.text).toContain('name="password"');
}

describe('authorization request checks', () => {
  let t: TestApp;
  let app: TestClient;
  let confidential: TestClient;
  const challenge = pkce().challenge;

  beforeAll(async () => {
    t = await startTestApp('sqlite');
    app = await addApp(t, SCOPE);
    confidential = await addApp(t, SCOPE, { auth: 'client_secret_basic' });
  });
  afterAll(() => t.stop());

  it('accepts a well-formed request (the baseline the refusals differ from)', async () => {
    await reachesLogin(t, app, { code_challenge: challenge });
  });

  it('refuses a wrong or missing aud, redirecting the error and its state to the app', async () => {
    const wrong = await refused(t, app, { code_challenge: challenge, aud: 'https://evil.example/fhir', state: 's-aud' }, 'invalid_request');
    expect(wrong.redirect?.searchParams.get('state')).toBe('s-aud');
    expect(wrong.redirect?.searchParams.get('iss')).toBe(t.config.issuer);
    await refused(t, app, { code_challenge: challenge, aud: `${t.origin}/fhir/r5` }, 'invalid_request');
    await refused(t, app, { code_challenge: challenge, aud: undefined }, 'invalid_request');
    await refused(t, app, { code_challenge: challenge, aud: '' }, 'invalid_request');
  });

  it('requires PKCE S256 from public and confidential clients alike', async () => {
    await refused(t, app, { code_challenge_method: undefined }, 'invalid_request');
    await refused(t, confidential, { code_challenge_method: undefined }, 'invalid_request');
    await refused(t, app, { code_challenge: challenge, code_challenge_method: 'plain' }, 'invalid_request');
    await refused(t, app, { code_challenge: challenge, code_challenge_method: undefined }, 'invalid_request');
    await refused(t, app, { code_challenge: 'too-short' }, 'invalid_request');
  });

  it('offers the code flow only', async () => {
    for (const responseType of ['token', 'id_token', 'code id_token', 'code token', 'none']) {
      const out = await refused(t, app, { code_challenge: challenge, response_type: responseType, nonce: 'n' }, 'unsupported_response_type');
      expect(out.redirect?.hash ?? '').not.toContain('access_token');
    }
  });

  it('never redirects to an unregistered redirect URI', async () => {
    const evil = 'https://evil.example/callback';
    for (const redirect of [evil, `${app.redirectUri}/more`, `${app.redirectUri}?x=1`, app.redirectUri.replace('https:', 'http:')]) {
      const page = await new Browser().get(authUrl(t, app, { code_challenge: challenge, redirect_uri: redirect }), (u) => u.startsWith(evil) || u.startsWith(redirect));
      expect(page.status).toBe(400);
      expect(page.url.startsWith(t.config.issuer)).toBe(true);
      expect(page.text).toContain('invalid_redirect_uri');
      expect(page.text).not.toContain('name="password"');
    }
  });

  it('refuses an unknown client without redirecting', async () => {
    const page = await new Browser().get(authUrl(t, { ...app, clientId: 'no-such-client' }, { code_challenge: challenge }), (u) => u.startsWith(app.redirectUri));
    expect(page.status).toBe(400);
    expect(page.text).toContain('invalid_client');
  });

  it('refuses scopes outside the registration, system/ scopes and unknown scopes with invalid_scope', async () => {
    await refused(t, app, { code_challenge: challenge, scope: 'openid patient/Condition.rs' }, 'invalid_scope');
    await refused(t, app, { code_challenge: challenge, scope: 'patient/Patient.cruds' }, 'invalid_scope');
    await refused(t, app, { code_challenge: challenge, scope: 'openid profile' }, 'invalid_scope');
    await refused(t, app, { code_challenge: challenge, scope: 'system/Patient.rs' }, 'invalid_scope');
    await refused(t, app, { code_challenge: challenge, scope: 'patient/Patient.rs made-up-scope' }, 'invalid_scope');
    await refused(t, app, { code_challenge: challenge, scope: undefined }, 'invalid_scope');
    await reachesLogin(t, app, { code_challenge: challenge, scope: 'patient/Patient.r' });
  });

  it('refuses a registered patient wildcard while the server does not allow wildcards', async () => {
    // Registered while the operator allowed wildcards; the policy has changed since.
    const permissive = new ClientService(t.app.db.knex, t.app.smart.box, { allowWildcardScopes: true });
    const { client } = await permissive.add(
      { redirect_uris: ['https://wild.example/cb'], token_endpoint_auth_method: 'none', scope: 'patient/*.read' },
      { by: 'operator' },
    );
    const wild: TestClient = { clientId: client.clientId, redirectUri: 'https://wild.example/cb', scope: 'patient/*.read' };
    await refused(t, wild, { code_challenge: challenge }, 'invalid_scope');
    // Naming one type the registered wildcard covers asks for no wildcard.
    await reachesLogin(t, wild, { code_challenge: challenge, scope: 'patient/Patient.read' });
  });

  describe('EHR launch', () => {
    let ehrApp: TestClient;
    let user: { userId: string; patientId: string };
    const launchFor = async (clientId: string) => (await createLaunch(t.app.db.knex, { clientId, userId: user.userId, patient: user.patientId })).id;

    beforeAll(async () => {
      ehrApp = await addApp(t, `launch ${SCOPE}`);
      user = await addPatientUser(t);
    });

    it('refuses the launch scope without a launch parameter', async () => {
      await refused(t, ehrApp, { code_challenge: challenge }, 'invalid_request');
    });

    it('accepts a fresh launch once, then refuses it', async () => {
      const launch = await launchFor(ehrApp.clientId);
      await reachesLogin(t, ehrApp, { code_challenge: challenge, launch });
      await refused(t, ehrApp, { code_challenge: challenge, launch }, 'invalid_request');
    });

    it("refuses an unknown launch, another app's launch and an expired launch", async () => {
      await refused(t, ehrApp, { code_challenge: challenge, launch: 'not-a-launch' }, 'invalid_request');
      const otherApp = await addApp(t, `launch ${SCOPE}`);
      await refused(t, ehrApp, { code_challenge: challenge, launch: await launchFor(otherApp.clientId) }, 'invalid_request');
      const expired = await launchFor(ehrApp.clientId);
      await t.app.db.knex(AUTH_TABLES.launches).where({ id: expired }).update({ expires_at: Date.now() - 1000 });
      await refused(t, ehrApp, { code_challenge: challenge, launch: expired }, 'invalid_request');
    });

    it('offers no pushed authorization requests, whose request object would replace SMART aud', async () => {
      const launch = await launchFor(ehrApp.clientId);
      const form = { client_id: ehrApp.clientId, response_type: 'code', redirect_uri: ehrApp.redirectUri, scope: ehrApp.scope, aud: t.base, launch, code_challenge: challenge, code_challenge_method: 'S256' };
      const res = await fetch(`${t.config.issuer}/request`, { method: 'POST', body: new URLSearchParams(form) });
      expect(res.status).toBe(404);
      await reachesLogin(t, ehrApp, { code_challenge: challenge, launch });
    });

    it('a launch refused for its aud is still usable once the app fixes the request', async () => {
      const launch = await launchFor(ehrApp.clientId);
      await refused(t, ehrApp, { code_challenge: challenge, launch, aud: 'https://evil.example/fhir' }, 'invalid_request');
      await reachesLogin(t, ehrApp, { code_challenge: challenge, launch });
    });
  });
});

describe('authorization request checks an operator can relax', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp('sqlite', { KILN_PKCE_REQUIRED: 'public', KILN_ALLOW_WILDCARD_SCOPES: 'true' });
  });
  afterAll(() => t.stop());

  it('KILN_PKCE_REQUIRED=public lets a confidential client omit PKCE, never a public one', async () => {
    const confidential = await addApp(t, SCOPE, { auth: 'client_secret_basic' });
    await reachesLogin(t, confidential, { code_challenge_method: undefined });
    await refused(t, await addApp(t, SCOPE), { code_challenge_method: undefined }, 'invalid_request');
    await refused(t, confidential, { code_challenge: pkce().challenge, code_challenge_method: 'plain' }, 'invalid_request');
  });

  it('KILN_ALLOW_WILDCARD_SCOPES=true grants a registered patient wildcard', async () => {
    const user = await addPatientUser(t);
    const wild = await addApp(t, 'patient/*.read');
    const out = await authorize(t, wild, { username: user.username, params: { code_challenge: pkce().challenge } });
    expect(out.redirect?.searchParams.get('code')).toEqual(expect.any(String));
    await refused(t, wild, { code_challenge: pkce().challenge, scope: 'patient/*.write' }, 'invalid_scope');
  });
});
