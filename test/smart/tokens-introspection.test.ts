import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { addBackendClient, clientAssertion, postForm, type BackendClient } from '../helpers/auth.js';
import { addApp, addPatientUser, authorizeWithPkce, readStatus, refresh, type TestClient } from '../helpers/oauth.js';
import { AUTH_TABLES } from '../../smart/db/schema.js';

/**
 * Token introspection (RFC 7662, https://hl7.org/fhir/smart-app-launch/token-introspection.html)
 * and revocation (RFC 7009): only authenticated clients learn about tokens, and a revoked
 * token stops working at the FHIR API at once.
 */

const SCOPE = 'openid fhirUser launch/patient offline_access patient/Patient.rs patient/Observation.rs';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

describe('introspection and revocation', () => {
  let t: TestApp;
  let introspectUrl: string;
  let revokeUrl: string;
  let secretApp: TestClient;
  let publicApp: TestClient;
  let backend: BackendClient;
  let user: { username: string; userId: string; patientId: string };
  let read: string;

  beforeAll(async () => {
    t = await startTestApp('sqlite');
    introspectUrl = `${t.config.issuer}/token/introspection`;
    revokeUrl = `${t.config.issuer}/token/revocation`;
    secretApp = await addApp(t, SCOPE, { auth: 'client_secret_basic' });
    publicApp = await addApp(t, SCOPE);
    backend = await addBackendClient(t.app, 'system/Patient.rs');
    user = await addPatientUser(t);
    read = `Patient/${user.patientId}`;
  });
  afterAll(() => t.stop());

  const basic = (c: TestClient, secret = c.clientSecret) => ({ authorization: `Basic ${Buffer.from(`${c.clientId}:${secret}`).toString('base64')}` });
  const introspect = (token: string, headers: Record<string, string> = basic(secretApp), form: Record<string, string> = {}) =>
    postForm(introspectUrl, { token, ...form }, headers);
  const revoke = (token: string, c: TestClient, hint?: string) =>
    postForm(revokeUrl, { token, ...(hint ? { token_type_hint: hint } : {}), ...(c.clientSecret ? {} : { client_id: c.clientId }) }, c.clientSecret ? basic(c) : {});
  const tokensFor = async (client: TestClient, grant?: string[]) => {
    const res = await authorizeWithPkce(t, client, { username: user.username, grant });
    expect(res.status).toBe(200);
    return res.body;
  };

  it('describes an active user token as SMART requires', async () => {
    const tokens = await tokensFor(secretApp);
    const res = await introspect(tokens.access_token);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body).toMatchObject({
      active: true,
      client_id: secretApp.clientId,
      patient: user.patientId,
      fhirUser: `${t.base}/Patient/${user.patientId}`,
      sub: user.userId,
      iss: t.config.issuer,
      token_type: 'Bearer',
    });
    expect(res.body.scope.split(' ').sort()).toEqual(tokens.scope.split(' ').sort());
    expect(res.body.exp).toBeGreaterThan(Date.now() / 1000);
    expect(res.body.exp).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + tokens.expires_in);
    expect(Object.keys(res.body).filter((k) => k.startsWith('kiln_'))).toEqual([]);
  });

  it('names fhirUser only when the token response did', async () => {
    const tokens = await tokensFor(secretApp, ['openid', 'launch/patient', 'patient/Patient.rs']);
    const res = await introspect(tokens.access_token);
    expect(res.body.active).toBe(true);
    expect(res.body.fhirUser).toBeUndefined();
    expect(res.body.scope.split(' ').sort()).toEqual(['launch/patient', 'openid', 'patient/Patient.rs']);
  });

  it('describes a narrowed refresh as its token response did', async () => {
    const tokens = await tokensFor(secretApp);
    const narrow = await refresh(t, secretApp, tokens.refresh_token, { scope: 'patient/Patient.rs' });
    expect(narrow.body.scope).toBe('patient/Patient.rs');
    const res = await introspect(narrow.body.access_token);
    expect(res.body).toMatchObject({ active: true, scope: 'patient/Patient.rs', patient: user.patientId });
    expect(res.body.fhirUser).toBeUndefined();
  });

  it('describes backend tokens to a client authenticating with a signed assertion', async () => {
    const cc = await postForm(`${t.config.issuer}/token`, {
      grant_type: 'client_credentials',
      scope: 'system/Patient.rs',
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: await clientAssertion(backend, `${t.config.issuer}/token`),
    });
    const res = await postForm(introspectUrl, {
      token: cc.body.access_token,
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: await clientAssertion(backend, introspectUrl, { aud: `${t.config.issuer}/token` }),
    });
    expect(res.body).toMatchObject({ active: true, scope: 'system/Patient.rs', client_id: backend.clientId });
    expect(res.body.exp).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 300);
    expect(res.body.patient).toBeUndefined();
    expect(res.body.sub).toBeUndefined();
  });

  it('tells a public client nothing, not even about its own token', async () => {
    const tokens = await tokensFor(publicApp);
    const res = await postForm(introspectUrl, { token: tokens.access_token, client_id: publicApp.clientId });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ active: false });
  });

  it('refuses callers that do not authenticate, or authenticate wrongly', async () => {
    const { access_token } = await tokensFor(secretApp);
    const none = await postForm(introspectUrl, { token: access_token });
    expect(none.status).toBe(400);
    expect(none.body).toEqual({ error: 'invalid_request', error_description: expect.any(String) });
    for (const headers of [basic(secretApp, 'wrong'), basic({ ...secretApp, clientId: 'nobody' })]) {
      const res = await introspect(access_token, headers);
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('invalid_client');
      expect(res.body.active).toBeUndefined();
      expect(JSON.stringify(res.body)).not.toContain(user.patientId);
    }
  });

  it('reports unknown, expired and revoked tokens as inactive, with nothing else', async () => {
    expect((await introspect('no-such-token')).body).toEqual({ active: false });
    const tokens = await tokensFor(secretApp);
    const expiring = await tokensFor(secretApp);
    await t.app.db.knex(AUTH_TABLES.models).where({ kind: 'AccessToken', id: expiring.access_token }).update({ expires_at: Date.now() - 1000 });
    expect((await introspect(expiring.access_token)).body).toEqual({ active: false });
    const revoked = await revoke(tokens.access_token, secretApp);
    expect(revoked.status).toBe(200);
    expect((await introspect(tokens.access_token)).body).toEqual({ active: false });
  });

  it('revoking an access token stops it at the FHIR API at once', async () => {
    const tokens = await tokensFor(publicApp);
    expect(await readStatus(t, tokens.access_token, read)).toBe(200);
    // RFC 7009 §2.1: a public client revokes its own tokens with its client_id.
    expect((await revoke(tokens.access_token, publicApp, 'access_token')).status).toBe(200);
    expect(await readStatus(t, tokens.access_token, read)).toBe(401);
  });

  it('revoking a refresh token ends its grant: its access tokens and the refresh token itself', async () => {
    const tokens = await tokensFor(secretApp);
    const rotated = await refresh(t, secretApp, tokens.refresh_token);
    expect(await readStatus(t, rotated.body.access_token, read)).toBe(200);
    expect((await revoke(rotated.body.refresh_token, secretApp, 'refresh_token')).status).toBe(200);
    expect(await readStatus(t, rotated.body.access_token, read)).toBe(401);
    expect((await refresh(t, secretApp, rotated.body.refresh_token)).body.error).toBe('invalid_grant');
    expect((await introspect(rotated.body.refresh_token)).body).toEqual({ active: false });
  });

  it("cannot revoke another client's token", async () => {
    const tokens = await tokensFor(secretApp);
    const byPublic = await revoke(tokens.access_token, publicApp);
    expect(byPublic.status).toBe(200);
    const other = await addApp(t, SCOPE, { auth: 'client_secret_basic' });
    const byOther = await revoke(tokens.access_token, other);
    expect(byOther.status).toBe(400);
    expect(byOther.body.error).toBe('invalid_request');
    expect(await readStatus(t, tokens.access_token, read)).toBe(200);
  });

  it('answers revocation of an unknown token with 200 (RFC 7009 §2.2) and refuses unauthenticated callers', async () => {
    expect((await revoke('no-such-token', secretApp)).status).toBe(200);
    const wrong = await postForm(revokeUrl, { token: 'x' }, basic(secretApp, 'wrong'));
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe('invalid_client');
  });
});
