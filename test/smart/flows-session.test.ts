import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { Browser, forms } from '../helpers/browser.js';
import { addApp, addPatientUser, authorizeWithPkce, readStatus, refresh, type TestClient } from '../helpers/oauth.js';

/**
 * `online_access` (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#scopes-for-requesting-a-refresh-token):
 * its refresh token lives only as long as the user's sign-in session, while an
 * `offline_access` one outlives it.
 */
describe('online and offline access across a sign-out', () => {
  let t: TestApp;
  let online: TestClient;
  let offline: TestClient;
  let user: { username: string };

  beforeAll(async () => {
    t = await startTestApp('sqlite');
    online = await addApp(t, 'launch/patient openid fhirUser online_access patient/Patient.rs');
    offline = await addApp(t, 'launch/patient openid fhirUser offline_access patient/Patient.rs');
    user = await addPatientUser(t);
  });
  afterAll(() => t.stop());

  it('ends online access when the user signs out, and keeps offline access', async () => {
    const browser = new Browser();
    const on = await authorizeWithPkce(t, online, { username: user.username, browser });
    expect(on.body.refresh_token).toEqual(expect.any(String));
    // Signed in already: the second app's flow goes straight to consent in the same session.
    const off = await authorizeWithPkce(t, offline, { username: user.username, browser });
    expect(off.body.refresh_token).toEqual(expect.any(String));
    const onRefreshed = await refresh(t, online, on.body.refresh_token);
    expect(onRefreshed.status).toBe(200);

    const confirm = await browser.get(`${t.config.issuer}/session/end`);
    expect(confirm.text).toContain('Sign out?');
    const done = await browser.submit(forms(confirm)[0], { logout: 'yes' });
    expect(done.text).toContain('signed out');

    const afterOnline = await refresh(t, online, onRefreshed.body.refresh_token);
    expect(afterOnline.status).toBe(400);
    expect(afterOnline.body.error).toBe('invalid_grant');
    expect(await readStatus(t, onRefreshed.body.access_token, 'Patient')).toBe(401);
    const afterOffline = await refresh(t, offline, off.body.refresh_token);
    expect(afterOffline.status).toBe(200);
    expect(await readStatus(t, afterOffline.body.access_token, 'Patient')).toBe(200);
  });
});
