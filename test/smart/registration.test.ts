import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { keyPair } from '../helpers/auth.js';
import { Browser } from '../helpers/browser.js';
import { addPatientUser, authorize, authorizeWithPkce, authUrl, errorOf, exchange, openAuthorization, pkce, type TestClient } from '../helpers/oauth.js';

/**
 * Dynamic client registration (RFC 7591, https://www.rfc-editor.org/rfc/rfc7591#section-3)
 * over HTTP: what is enabled at once, what waits for an administrator, what is refused,
 * and native apps on any loopback port (RFC 8252 §7.3).
 */
describe('dynamic client registration', () => {
  let t: TestApp;
  let user: { username: string; userId: string; patientId: string };
  let regUrl: string;

  beforeAll(async () => {
    t = await startTestApp('sqlite');
    user = await addPatientUser(t);
    regUrl = `${t.config.issuer}/reg`;
  });
  afterAll(() => t.stop());

  async function register(body: unknown, contentType = 'application/json') {
    const res = await fetch(regUrl, { method: 'POST', headers: { 'content-type': contentType }, body: typeof body === 'string' ? body : JSON.stringify(body) });
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, body: json, text };
  }

  const asClient = (body: any, redirectUri: string): TestClient => ({ clientId: body.client_id, clientSecret: body.client_secret, redirectUri, scope: body.scope });

  it('enables an app asking for patient scopes only, and hands out its secret once', async () => {
    const redirectUri = 'https://patient-app.example/cb';
    const res = await register({ client_name: 'Patient app', redirect_uris: [redirectUri], token_endpoint_auth_method: 'client_secret_basic', scope: 'openid fhirUser launch/patient patient/Patient.rs', client_id: 'chosen-by-me' });
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body).toMatchObject({ kiln_status: 'enabled', client_secret: expect.any(String), client_secret_expires_at: 0, token_endpoint_auth_method: 'client_secret_basic' });
    expect(res.body.client_id).not.toBe('chosen-by-me');
    const tokens = await authorizeWithPkce(t, asClient(res.body, redirectUri), { username: user.username });
    expect(tokens.status).toBe(200);
    expect(tokens.body.patient).toBe(user.patientId);
    expect((await t.app.smart.clients.get(res.body.client_id))?.registeredBy).toBe('dynamic');
  });

  it('gives a public app no secret', async () => {
    const res = await register({ redirect_uris: ['https://public.example/cb'], token_endpoint_auth_method: 'none', scope: 'patient/Observation.rs' });
    expect(res.status).toBe(201);
    expect(res.body.kiln_status).toBe('enabled');
    expect(res.body.client_secret).toBeUndefined();
  });

  it.each([
    ['user/ scopes', { scope: 'openid user/Patient.rs patient/Patient.rs' }],
    ['the launch scope', { scope: 'launch patient/Patient.rs' }],
  ])('keeps an app asking for %s pending until an administrator approves it', async (_what, extra) => {
    const redirectUri = 'https://pending.example/cb';
    const res = await register({ redirect_uris: [redirectUri], token_endpoint_auth_method: 'client_secret_basic', ...extra });
    expect(res.status).toBe(201);
    expect(res.body.kiln_status).toBe('pending');
    const app = asClient(res.body, redirectUri);
    const p = pkce();
    const page = await new Browser().get(authUrl(t, app, { code_challenge: p.challenge, scope: 'patient/Patient.rs' }), (u) => u.startsWith(redirectUri));
    expect(page.status).toBe(400);
    expect(page.text).toContain('invalid_client');
    const token = await exchange(t, app, 'any-code', p.verifier);
    expect(token.status).toBe(401);
    expect(token.body.error).toBe('invalid_client');
    await t.app.smart.clients.approve(app.clientId);
    const after = await openAuthorization(new Browser(), authUrl(t, app, { code_challenge: p.challenge, scope: 'patient/Patient.rs' }), redirectUri);
    expect(after.page.text).toContain('name="password"');
  });

  it('keeps a backend service pending until approved', async () => {
    const key = await keyPair('ES384');
    const res = await register({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.publicJwk] }, scope: 'system/Patient.rs' });
    expect(res.status).toBe(201);
    expect(res.body.kiln_status).toBe('pending');
    expect(res.body.client_secret).toBeUndefined();
    expect(await t.app.smart.provider.Client.find(res.body.client_id)).toBeUndefined();
    await t.app.smart.clients.approve(res.body.client_id);
    expect(await t.app.smart.provider.Client.find(res.body.client_id)).toBeDefined();
  });

  it.each([
    ['a body that is not JSON', '{not json', 'invalid_client_metadata'],
    ['a JSON array', [], 'invalid_client_metadata'],
    ['no scope', { redirect_uris: ['https://x.example/cb'] }, 'invalid_client_metadata'],
    ['an unknown scope', { redirect_uris: ['https://x.example/cb'], scope: 'patient/Patient.rs everything' }, 'invalid_client_metadata'],
    ['a patient wildcard', { redirect_uris: ['https://x.example/cb'], scope: 'patient/*.rs' }, 'invalid_client_metadata'],
    ['an unknown grant type', { redirect_uris: ['https://x.example/cb'], grant_types: ['password'], scope: 'patient/Patient.rs' }, 'invalid_client_metadata'],
    ['implicit', { redirect_uris: ['https://x.example/cb'], response_types: ['token'], scope: 'patient/Patient.rs' }, 'invalid_client_metadata'],
    ['client_credentials with a secret', { grant_types: ['client_credentials'], scope: 'system/Patient.rs' }, 'invalid_client_metadata'],
    ['private_key_jwt without keys', { redirect_uris: ['https://x.example/cb'], token_endpoint_auth_method: 'private_key_jwt', scope: 'patient/Patient.rs' }, 'invalid_client_metadata'],
    ['a jwks_uri over plain http', { grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'http://keys.example/jwks', scope: 'system/Patient.rs' }, 'invalid_client_metadata'],
    ['no redirect_uris', { scope: 'patient/Patient.rs' }, 'invalid_redirect_uri'],
    ['an http redirect URI', { redirect_uris: ['http://app.example/cb'], scope: 'patient/Patient.rs' }, 'invalid_redirect_uri'],
    ['a redirect URI with a fragment', { redirect_uris: ['https://app.example/cb#x'], scope: 'patient/Patient.rs' }, 'invalid_redirect_uri'],
    ['a relative redirect URI', { redirect_uris: ['/cb'], scope: 'patient/Patient.rs' }, 'invalid_redirect_uri'],
    ['a javascript: redirect URI', { redirect_uris: ['javascript:alert(1)'], scope: 'patient/Patient.rs' }, 'invalid_redirect_uri'],
  ])('refuses %s', async (_what, body, error) => {
    const res = await register(body);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.body).toEqual({ error, error_description: expect.any(String) });
  });

  it('refuses a body that is not JSON by its content type, and one too large', async () => {
    const form = await register('redirect_uris=https://x.example/cb', 'application/x-www-form-urlencoded');
    expect(form.status).toBe(400);
    expect(form.body.error).toBe('invalid_client_metadata');
    const large = await register({ redirect_uris: ['https://x.example/cb'], scope: 'patient/Patient.rs', client_name: 'x'.repeat(70_000) });
    expect(large.status).toBe(413);
    expect(large.body.error).toBe('invalid_client_metadata');
  });

  describe('native apps', () => {
    let app: TestClient;

    beforeAll(async () => {
      const res = await register({ client_name: 'Native', redirect_uris: ['http://127.0.0.1:1234/cb'], token_endpoint_auth_method: 'none', scope: 'openid launch/patient patient/Patient.rs' });
      expect(res.status).toBe(201);
      app = asClient(res.body, 'http://127.0.0.1:1234/cb');
    });

    it('may use any loopback port, and must use the same one at the token endpoint', async () => {
      const onPort: TestClient = { ...app, redirectUri: 'http://127.0.0.1:5678/cb' };
      const p = pkce();
      const out = await authorize(t, onPort, { username: user.username, params: { code_challenge: p.challenge } });
      const code = out.redirect?.searchParams.get('code');
      expect(code).toEqual(expect.any(String));
      expect((await exchange(t, app, code as string, p.verifier)).body.error).toBe('invalid_grant');
      const res = await exchange(t, onPort, code as string, p.verifier);
      expect(res.status).toBe(200);
      expect(res.body.patient).toBe(user.patientId);
    });

    it('may not change the path or the host', async () => {
      for (const redirectUri of ['http://127.0.0.1:5678/other', 'http://localhost:1234/cb', 'http://127.0.0.2:1234/cb']) {
        const page = await new Browser().get(authUrl(t, { ...app, redirectUri }, { code_challenge: pkce().challenge }), (u) => u.startsWith(redirectUri));
        expect(page.status).toBe(400);
        expect(page.text).toContain('invalid_redirect_uri');
      }
    });

    it('must use PKCE', async () => {
      const onPort: TestClient = { ...app, redirectUri: 'http://127.0.0.1:4321/cb' };
      const out = await openAuthorization(new Browser(), authUrl(t, onPort, { code_challenge_method: undefined }), onPort.redirectUri);
      expect(out.page.text).not.toContain('name="password"');
      expect(errorOf(out)).toBe('invalid_request');
    });
  });
});
