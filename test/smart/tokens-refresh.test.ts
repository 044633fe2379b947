import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { addApp, addPatientUser, authorizeWithPkce, readStatus, refresh, type TestClient } from '../helpers/oauth.js';

/**
 * Refresh tokens (https://hl7.org/fhir/smart-app-launch/app-launch.html#step-6-app-uses-a-refresh-token-to-obtain-a-new-access-token):
 * issued only for offline_access or online_access, rotated on every use, and a reused
 * one (a sign it was stolen, https://datatracker.ietf.org/doc/html/draft-ietf-oauth-security-topics#section-4.14)
 * ends the whole grant at once.
 */

const SCOPE = 'openid fhirUser launch/patient offline_access online_access patient/Patient.rs patient/Observation.rs';

describe('refresh tokens', () => {
  let t: TestApp;
  let app: TestClient;
  let user: { username: string; userId: string; patientId: string };
  let read: string;

  beforeAll(async () => {
    t = await startTestApp('sqlite');
    app = await addApp(t, SCOPE);
    user = await addPatientUser(t);
    read = `Patient/${user.patientId}`;
  });
  afterAll(() => t.stop());

  const tokens = async (grant?: string[], client = app, who = user.username) => {
    const res = await authorizeWithPkce(t, client, { username: who, grant });
    expect(res.status).toBe(200);
    return res.body;
  };

  it('are issued for offline_access and rotate on every use', async () => {
    const first = await tokens();
    expect(first.refresh_token).toEqual(expect.any(String));
    const second = await refresh(t, app, first.refresh_token);
    expect(second.status).toBe(200);
    expect(second.headers.get('cache-control')).toBe('no-store');
    expect(second.body.refresh_token).toEqual(expect.any(String));
    expect(second.body.refresh_token).not.toBe(first.refresh_token);
    expect(second.body.access_token).not.toBe(first.access_token);
    expect(second.body.patient).toBe(user.patientId);
    expect(second.body.scope.split(' ').sort()).toEqual(SCOPE.split(' ').sort());
    expect(await readStatus(t, second.body.access_token, read)).toBe(200);
    const third = await refresh(t, app, second.body.refresh_token);
    expect(third.status).toBe(200);
  });

  it('a reused refresh token ends the whole grant', async () => {
    const first = await tokens();
    const rotated = await refresh(t, app, first.refresh_token);
    expect(rotated.status).toBe(200);
    expect(await readStatus(t, rotated.body.access_token, read)).toBe(200);
    const reuse = await refresh(t, app, first.refresh_token);
    expect(reuse.status).toBe(400);
    expect(reuse.body.error).toBe('invalid_grant');
    expect(await readStatus(t, rotated.body.access_token, read)).toBe(401);
    expect(await readStatus(t, first.access_token, read)).toBe(401);
    const newest = await refresh(t, app, rotated.body.refresh_token);
    expect(newest.status).toBe(400);
    expect(newest.body.error).toBe('invalid_grant');
  });

  it("refuses another client's refresh token", async () => {
    const { refresh_token } = await tokens();
    const other = await addApp(t, SCOPE);
    const res = await refresh(t, other, refresh_token);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
    // Refused without harm to the owner.
    expect((await refresh(t, app, refresh_token)).status).toBe(200);
  });

  it('refuses a confidential client whose secret is wrong, before looking at the token', async () => {
    const secretApp = await addApp(t, SCOPE, { auth: 'client_secret_basic' });
    const { refresh_token } = await tokens(undefined, secretApp);
    const res = await refresh(t, { ...secretApp, clientSecret: 'wrong' }, refresh_token);
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
    const stolen = await refresh(t, { ...secretApp, clientSecret: undefined }, refresh_token);
    expect(stolen.status).toBe(401);
    expect(stolen.body.error).toBe('invalid_client');
    expect((await refresh(t, secretApp, refresh_token)).status).toBe(200);
  });

  it('refuses a broader scope and narrows to a smaller one', async () => {
    const first = await tokens(['openid', 'launch/patient', 'offline_access', 'patient/Patient.rs']);
    for (const scope of ['patient/Patient.rs patient/Observation.rs', 'patient/Patient.rs fhirUser', 'patient/Patient.cruds']) {
      const res = await refresh(t, app, first.refresh_token, { scope });
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_scope');
    }
    const narrow = await refresh(t, app, first.refresh_token, { scope: 'patient/Patient.rs' });
    expect(narrow.status).toBe(200);
    expect(narrow.body.scope).toBe('patient/Patient.rs');
    expect(narrow.body.id_token).toBeUndefined();
    expect(await readStatus(t, narrow.body.access_token, read)).toBe(200);
    // The refresh token itself keeps the whole grant.
    const whole = await refresh(t, app, narrow.body.refresh_token);
    expect(whole.body.scope.split(' ').sort()).toEqual(['launch/patient', 'offline_access', 'openid', 'patient/Patient.rs']);
    expect(whole.body.id_token).toEqual(expect.any(String));
  });

  it('are not issued without offline_access or online_access, or when the user unticks them', async () => {
    const plain = await addApp(t, 'openid launch/patient patient/Patient.rs');
    expect((await tokens(undefined, plain)).refresh_token).toBeUndefined();
    const unticked = await tokens(['openid', 'launch/patient', 'patient/Patient.rs']);
    expect(unticked.refresh_token).toBeUndefined();
    expect(unticked.scope.split(' ')).not.toContain('offline_access');
  });

  it('are not issued to a client registered without the refresh_token grant', async () => {
    const codeOnly = await addApp(t, SCOPE, { grants: ['authorization_code'] });
    const res = await tokens(undefined, codeOnly);
    expect(res.refresh_token).toBeUndefined();
    expect(res.scope.split(' ')).not.toContain('offline_access');
    const { refresh_token } = await tokens();
    const refused = await refresh(t, codeOnly, refresh_token);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('unauthorized_client');
  });

  it('are issued for offline_access when the app also asks to sign in again (prompt=login)', async () => {
    const res = await authorizeWithPkce(t, app, { username: user.username, params: { prompt: 'login' } });
    expect(res.status).toBe(200);
    expect(res.body.refresh_token).toEqual(expect.any(String));
    expect(res.body.scope.split(' ')).toContain('offline_access');
  });

  it('are issued for online_access alone', async () => {
    const online = await tokens(['openid', 'online_access', 'patient/Patient.rs']);
    expect(online.refresh_token).toEqual(expect.any(String));
    expect((await refresh(t, app, online.refresh_token)).status).toBe(200);
  });

  it('are refused once the user is disabled or the client is disabled', async () => {
    const someone = await addPatientUser(t);
    const forUser = await tokens(undefined, app, someone.username);
    await t.app.smart.users.setDisabled(someone.userId, true);
    const res = await refresh(t, app, forUser.refresh_token);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
    await t.app.smart.users.setDisabled(someone.userId, false);

    const doomed = await addApp(t, SCOPE);
    const forClient = await tokens(undefined, doomed);
    await t.app.smart.clients.setStatus(doomed.clientId, 'disabled');
    const refused = await refresh(t, doomed, forClient.refresh_token);
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe('invalid_client');
  });
});
