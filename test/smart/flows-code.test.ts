import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { Browser, forms } from '../helpers/browser.js';
import {
  addApp,
  addPatientUser,
  authorize,
  authorizeWithPkce,
  authUrl,
  exchange,
  openAuthorization,
  PASSWORD,
  pkce,
  readStatus,
  type TestClient,
} from '../helpers/oauth.js';

/**
 * The authorization code grant end to end over HTTP
 * (https://hl7.org/fhir/smart-app-launch/app-launch.html#obtain-access-token): the
 * code, PKCE, the token response and its id_token, consent, sign-in failures, and
 * confidential clients' authentication at the token endpoint.
 */

const SCOPE = 'openid fhirUser launch/patient patient/Patient.rs patient/Observation.rs';

describe('authorization code grant', () => {
  let t: TestApp;
  let app: TestClient;
  let user: { username: string; userId: string; patientId: string };

  beforeAll(async () => {
    t = await startTestApp('sqlite');
    app = await addApp(t, SCOPE);
    user = await addPatientUser(t);
  });
  afterAll(() => t.stop());

  /** A code for `client` and the verifier that goes with it. */
  async function codeFor(client: TestClient, params: Record<string, string> = {}) {
    const p = pkce();
    const out = await authorize(t, client, { username: user.username, params: { code_challenge: p.challenge, ...params } });
    const code = out.redirect?.searchParams.get('code');
    if (!code) throw new Error(`no code: ${out.page.status} ${out.redirect?.href}`);
    return { code, verifier: p.verifier, redirect: out.redirect as URL };
  }

  it('refuses a missing, empty or wrong code_verifier with invalid_grant', async () => {
    const { code, verifier } = await codeFor(app);
    for (const bad of [undefined, '', pkce().verifier, `${verifier}x`]) {
      const res = await exchange(t, app, code, bad);
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_grant');
      expect(res.body.access_token).toBeUndefined();
    }
    // A failed verifier does not use the code up: only its holder can finish.
    expect((await exchange(t, app, code, verifier)).status).toBe(200);
  });

  it('refuses a replayed code and revokes what the first exchange issued', async () => {
    const { code, verifier } = await codeFor(app);
    const first = await exchange(t, app, code, verifier);
    expect(first.status).toBe(200);
    expect(await readStatus(t, first.body.access_token, `Patient/${user.patientId}`)).toBe(200);
    const replay = await exchange(t, app, code, verifier);
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe('invalid_grant');
    expect(await readStatus(t, first.body.access_token, `Patient/${user.patientId}`)).toBe(401);
  });

  it("refuses another client's code, a changed redirect_uri and an unknown code", async () => {
    const { code, verifier } = await codeFor(app);
    const other = await addApp(t, SCOPE);
    expect((await exchange(t, other, code, verifier)).body.error).toBe('invalid_grant');
    const moved = await exchange(t, { ...app, redirectUri: 'https://app.example/elsewhere' }, code, verifier);
    expect(moved.status).toBe(400);
    expect(moved.body.error).toBe('invalid_grant');
    expect((await exchange(t, app, 'not-a-code', verifier)).body.error).toBe('invalid_grant');
    // Still unused after those attempts.
    expect((await exchange(t, app, code, verifier)).status).toBe(200);
  });

  it('echoes state exactly and answers with no-store headers and SMART fields', async () => {
    const state = 'a b+c/d=é&x?y#z';
    const { code, verifier, redirect } = await codeFor(app, { state });
    expect(redirect.searchParams.get('state')).toBe(state);
    expect(redirect.searchParams.get('iss')).toBe(t.config.issuer);
    const res = await exchange(t, app, code, verifier);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('pragma')).toBe('no-cache');
    expect(res.body).toMatchObject({ token_type: 'Bearer', patient: user.patientId, need_patient_banner: true, smart_style_url: `${t.config.issuer}/smart-style.json` });
    expect(res.body.expires_in).toBeGreaterThan(0);
    expect(res.body.expires_in).toBeLessThanOrEqual(3600);
    expect(res.body.scope.split(' ').sort()).toEqual(SCOPE.split(' ').sort());
    expect(res.body.refresh_token).toBeUndefined();
  });

  it('issues an RS256 id_token that verifies against the JWKS and names fhirUser absolutely', async () => {
    const nonce = 'n-0S6_WzA2Mj';
    const { code, verifier } = await codeFor(app, { nonce });
    const res = await exchange(t, app, code, verifier);
    expect(decodeProtectedHeader(res.body.id_token).alg).toBe('RS256');
    const jwks = createRemoteJWKSet(new URL(`${t.config.issuer}/jwks`));
    const { payload } = await jwtVerify(res.body.id_token, jwks, { issuer: t.config.issuer, audience: app.clientId, algorithms: ['RS256'] });
    expect(payload.sub).toBe(user.userId);
    expect(payload.nonce).toBe(nonce);
    expect(payload.fhirUser).toBe(`${t.base}/Patient/${user.patientId}`);
    await expect(jwtVerify(res.body.id_token, jwks, { audience: 'someone-else' })).rejects.toThrow();
  });

  it('grants exactly what the user left ticked', async () => {
    const granted = ['openid', 'launch/patient', 'patient/Patient.rs'];
    const res = await authorizeWithPkce(t, app, { username: user.username, grant: granted });
    expect(res.status).toBe(200);
    expect(res.body.scope.split(' ').sort()).toEqual([...granted].sort());
    const { payload } = await jwtVerify(res.body.id_token, createRemoteJWKSet(new URL(`${t.config.issuer}/jwks`)));
    expect(payload.fhirUser).toBeUndefined();
    expect(res.body.patient).toBe(user.patientId);
  });

  it('grants nothing the app did not ask for, whatever the consent form sends', async () => {
    const res = await authorizeWithPkce(t, app, { username: user.username, grant: ['openid', 'launch/patient', 'patient/Patient.rs', 'patient/Condition.rs', 'user/Patient.rs', 'offline_access'] });
    expect(res.status).toBe(200);
    expect(res.body.scope.split(' ').sort()).toEqual(['launch/patient', 'openid', 'patient/Patient.rs']);
    expect(res.body.refresh_token).toBeUndefined();
  });

  it('leaves out the user/ scopes a patient cannot grant, and grants the rest', async () => {
    const mixed = await addApp(t, 'openid launch/patient patient/Patient.rs user/Patient.rs');
    const res = await authorizeWithPkce(t, mixed, { username: user.username });
    expect(res.status).toBe(200);
    expect(res.body.scope.split(' ').sort()).toEqual(['launch/patient', 'openid', 'patient/Patient.rs']);
  });

  it('refuses a consent form without its CSRF token', async () => {
    const browser = new Browser();
    const login = await openAuthorization(browser, authUrl(t, app, { code_challenge: pkce().challenge }), app.redirectUri);
    const consent = await browser.submit(forms(login.page)[0], { username: user.username, password: PASSWORD });
    const form = forms(consent)[0];
    const forged = await browser.submit({ ...form, fields: {} }, { scope: 'patient/Patient.rs', decision: 'allow' }, (u) => u.startsWith(app.redirectUri));
    expect(forged.status).toBe(403);
    expect(forged.url.startsWith(app.redirectUri)).toBe(false);
  });

  it('refuses a token request for another resource', async () => {
    const { code, verifier } = await codeFor(app);
    const res = await exchange(t, app, code, verifier, { extra: { resource: 'https://evil.example/fhir' } });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_target');
  });

  it('sends access_denied to the app when the user denies', async () => {
    const out = await authorize(t, app, { username: user.username, decision: 'deny', params: { code_challenge: pkce().challenge, state: 'deny-state' } });
    expect(out.redirect?.searchParams.get('error')).toBe('access_denied');
    expect(out.redirect?.searchParams.get('state')).toBe('deny-state');
    expect(out.redirect?.searchParams.get('code')).toBeNull();
  });

  describe('sign-in failures', () => {
    /** Opens a fresh sign-in page and submits one attempt. */
    async function attempt(username: string, password: string) {
      const browser = new Browser();
      const login = await openAuthorization(browser, authUrl(t, app, { code_challenge: pkce().challenge }), app.redirectUri);
      return browser.submit(forms(login.page)[0], { username, password }, (u) => u.startsWith(app.redirectUri));
    }
    const message = (text: string) => /role="alert">([^<]*)</.exec(text)?.[1];

    it('shows the sign-in page again after a wrong password', async () => {
      const page = await attempt(user.username, 'not the password');
      expect(page.status).toBe(401);
      expect(page.text).toContain('name="password"');
      expect(message(page.text)).toBe('Wrong username or password.');
    });

    it('locks a name after five failures, known or not, with the same answers', async () => {
      const known = await addPatientUser(t);
      const answers: Record<string, { status: number; message?: string }[]> = {};
      for (const name of [known.username, 'nobody-by-this-name']) {
        answers[name] = [];
        for (let i = 0; i < 6; i++) {
          const page = await attempt(name, 'wrong password');
          answers[name].push({ status: page.status, message: message(page.text) });
        }
      }
      expect(answers[known.username]).toEqual(answers['nobody-by-this-name']);
      expect(answers[known.username].map((a) => a.status)).toEqual([401, 401, 401, 401, 401, 429]);
      expect(answers[known.username][5].message).toMatch(/^Too many failed sign-ins\. Try again in 15 minutes\.$/);
      // The right password does not get through a lock either.
      const locked = await attempt(known.username, PASSWORD);
      expect(locked.status).toBe(429);
      expect(locked.url.startsWith(app.redirectUri)).toBe(false);
    });
  });

  describe('confidential clients', () => {
    let secretApp: TestClient;

    beforeAll(async () => {
      secretApp = await addApp(t, SCOPE, { auth: 'client_secret_basic' });
    });

    it('authenticate with client_secret_basic or client_secret_post', async () => {
      for (const auth of ['basic', 'post'] as const) {
        const { code, verifier } = await codeFor(secretApp);
        const res = await exchange(t, secretApp, code, verifier, { auth });
        expect(res.status).toBe(200);
        expect(res.body.access_token).toEqual(expect.any(String));
      }
    });

    it('refuses a wrong or missing secret with invalid_client (401)', async () => {
      const { code, verifier } = await codeFor(secretApp);
      for (const opts of [{ auth: 'basic', secret: 'wrong' }, { auth: 'post', secret: 'wrong' }, { auth: 'none' }] as const) {
        const res = await exchange(t, secretApp, code, verifier, opts);
        expect(res.status).toBe(401);
        expect(res.body.error).toBe('invalid_client');
      }
      // The code survives failed client authentication.
      expect((await exchange(t, secretApp, code, verifier)).status).toBe(200);
    });

    it('a public client cannot present a secret it does not have', async () => {
      const { code, verifier } = await codeFor(app);
      const res = await exchange(t, app, code, verifier, { auth: 'basic', secret: 'made-up' });
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('invalid_client');
    });
  });
});
