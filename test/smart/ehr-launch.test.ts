import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fhirFetch, startTestApp, TEST_SECRET_KEY, type TestApp } from '../helpers/app.js';
import { userToken } from '../helpers/auth.js';
import { runKiln } from '../helpers/kiln.js';
import { Browser, forms, inputValues } from '../helpers/browser.js';
import { startSmartApp, type TestSmartApp } from '../helpers/smart-app.js';

/**
 * EHR launch end to end (https://hl7.org/fhir/smart-app-launch/app-launch.html#launch-app-ehr-launch):
 * the EHR side makes a launch (over HTTP with the practitioner's token, or with
 * `kiln launch`), the app built on fhirclient is opened at its launch URL with `iss`
 * and `launch`, and the token it gets carries the launch's patient and encounter.
 */
describe('EHR launch with fhirclient', () => {
  let t: TestApp;
  let app: TestSmartApp;
  let clientId: string;
  let patientId: string;
  let practitioner: { token: string; username: string };
  const scope = 'launch openid fhirUser patient/Patient.rs patient/Observation.rs';

  beforeAll(async () => {
    t = await startTestApp('sqlite');
    patientId = (await fhirFetch(t, 'Patient', { method: 'POST', body: { resourceType: 'Patient', name: [{ family: 'Okafor' }] } })).body.id;
    app = await startSmartApp({ clientId: 'pending', scope, iss: t.base });
    const { client } = await t.app.smart.clients.add(
      { client_name: 'EHR App', redirect_uris: [app.redirectUri], initiate_login_uri: `${app.origin}/launch`, token_endpoint_auth_method: 'none', scope },
      { by: 'operator' },
    );
    clientId = client.clientId;
    app.configure({ clientId });
    const made = await userToken(t.app, { scope: 'user/Patient.rs', fhirUser: 'Practitioner/ehr-doc' });
    const user = await t.app.smart.users.findById(made.userId);
    practitioner = { token: made.token, username: user?.username as string };
  });
  afterAll(async () => {
    await app.stop();
    await t.stop();
  });

  const makeLaunch = (body: Record<string, string>, token = practitioner.token) =>
    fetch(`${t.origin}/oauth/launch`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  /** Opens the launch URL, signs in, allows everything; returns the app's view of the result. */
  async function launchAs(url: string, username: string) {
    const browser = new Browser();
    const login = await browser.get(url);
    expect(login.text).toContain('name="password"');
    const next = await browser.submit(forms(login)[0], { username, password: 'long enough password' });
    if (next.status !== 200 || !next.text.includes('name="decision"')) return { page: next };
    const done = await browser.submit(forms(next)[0], { scope: inputValues(next, 'scope'), decision: 'allow' });
    return { page: done, result: JSON.parse(done.text) };
  }

  it('carries the launch context into the token response', async () => {
    const res = await makeLaunch({ client_id: clientId, patient: patientId, encounter: 'enc-1' });
    expect(res.status).toBe(201);
    const launch = await res.json();
    expect(launch.iss).toBe(t.base);
    expect(launch.launch_url).toBe(`${app.origin}/launch?iss=${encodeURIComponent(t.base)}&launch=${encodeURIComponent(launch.launch)}`);
    const { result } = await launchAs(launch.launch_url, practitioner.username);
    expect(result.tokenResponse.patient).toBe(patientId);
    expect(result.tokenResponse.encounter).toBe('enc-1');
    expect(result.tokenResponse.need_patient_banner).toBe(false);
    expect(result.tokenResponse.scope.split(' ')).toContain('launch');
    expect(result.fhirUser).toBe('Practitioner/ehr-doc');
  });

  it('refuses a launch used by another user, and a launch used twice', async () => {
    const launch = await (await makeLaunch({ client_id: clientId, patient: patientId })).json();
    const other = await t.app.smart.users.add({ username: 'someone-else', password: 'long enough password', role: 'practitioner' });
    const { page } = await launchAs(launch.launch_url, other.username);
    expect(page.status).toBe(403);
    expect(page.text).toContain('another user');
    // The launch was used by that attempt: it cannot start a second authorization.
    const again = await new Browser().get(launch.launch_url);
    expect(again.text).not.toContain('name="password"');
    expect(again.url).toContain('error=invalid_request');
  });

  it('refuses launches from patients, for unknown patients and for apps not registered for launch', async () => {
    const patientUser = await userToken(t.app, { scope: 'patient/Patient.rs', fhirUser: `Patient/${patientId}`, patient: patientId });
    expect((await makeLaunch({ client_id: clientId, patient: patientId }, patientUser.token)).status).toBe(403);
    expect((await makeLaunch({ client_id: clientId, patient: 'nope' })).status).toBe(400);
    expect((await makeLaunch({ client_id: 'unknown-client', patient: patientId })).status).toBe(400);
    const noToken = await fetch(`${t.origin}/oauth/launch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(noToken.status).toBe(401);
  });

  it('kiln launch prints a launch URL that starts the same flow', async () => {
    const run = await runKiln(['launch', '--client', clientId, '--user', practitioner.username, '--patient', patientId], {
      env: { DATABASE_URL: t.database.url, KILN_SECRET_KEY: TEST_SECRET_KEY, KILN_BASE_URL: t.base },
    });
    // A failure shows what the command printed (a matcher's diff would leave stderr out).
    if (run.code !== 0) throw new Error(`kiln launch exited with ${run.code}:\n${run.stderr}`);
    const printed = JSON.parse(run.stdout);
    expect(printed.expires_in).toBe(300);
    const { result } = await launchAs(printed.launch_url, practitioner.username);
    expect(result.tokenResponse.patient).toBe(patientId);
  });
});
