import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { optIn, optOut } from '../../smart/optout.js';
import { fhirFetch, startTestApp, TEST_SECRET_KEY, type TestApp } from '../helpers/app.js';
import { userToken } from '../helpers/auth.js';
import { runKiln } from '../helpers/kiln.js';
import { Browser, forms } from '../helpers/browser.js';
import { startSmartApp, type TestSmartApp } from '../helpers/smart-app.js';

/** A patient who opts out: their tokens stop at once, and no app is authorized for them until they opt back in. */
describe('patient opt-out', () => {
  let t: TestApp;
  let app: TestSmartApp;
  let patientId: string;
  const scope = 'launch/patient openid fhirUser patient/Patient.rs';

  beforeAll(async () => {
    t = await startTestApp('sqlite');
    patientId = (await fhirFetch(t, 'Patient', { method: 'POST', body: { resourceType: 'Patient', name: [{ family: 'Nakamura' }] } })).body.id;
    app = await startSmartApp({ clientId: 'pending', scope, iss: t.base });
    const { client } = await t.app.smart.clients.add({ client_name: 'Opt App', redirect_uris: [app.redirectUri], token_endpoint_auth_method: 'none', scope }, { by: 'operator' });
    app.configure({ clientId: client.clientId });
    await t.app.smart.users.add({ username: 'nakamura', password: 'long enough password', role: 'patient', fhirUser: `Patient/${patientId}` });
  });
  afterAll(async () => {
    await app.stop();
    await t.stop();
  });

  it('stops the patient-context tokens at once and leaves other tokens alone', async () => {
    const { token } = await userToken(t.app, { scope: 'patient/Patient.rs', patient: patientId, fhirUser: `Patient/${patientId}` });
    expect((await fhirFetch(t, `Patient/${patientId}`, { token })).status).toBe(200);
    // Recorded by another process, as an operator would.
    const run = await runKiln(['patients', 'opt-out', patientId, '--by', 'front desk'], { env: { DATABASE_URL: t.database.url, KILN_SECRET_KEY: TEST_SECRET_KEY } });
    // A failure shows what the command printed on stderr.
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    expect(JSON.parse(run.stdout)).toEqual([expect.objectContaining({ patientId, recordedBy: 'front desk' })]);
    const refused = await fhirFetch(t, `Patient/${patientId}`, { token });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('invalid_token');
    expect(refused.body.issue[0].diagnostics).toContain('opted out');
    // A backend token is not about this patient's context: it keeps working.
    expect((await fhirFetch(t, `Patient/${patientId}`)).status).toBe(200);
    expect(await optIn(t.app.db.knex, patientId)).toBe(true);
    expect((await fhirFetch(t, `Patient/${patientId}`, { token })).status).toBe(200);
  });

  it('refuses a new authorization in the patient’s context while opted out', async () => {
    await optOut(t.app.db.knex, patientId);
    const browser = new Browser();
    const login = await browser.get(`${app.origin}/launch`);
    const next = await browser.submit(forms(login)[0], { username: 'nakamura', password: 'long enough password' });
    expect(next.status).toBe(403);
    expect(next.text).toContain('opted out');
    await optIn(t.app.db.knex, patientId);
  });
});
