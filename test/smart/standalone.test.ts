import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client } from 'fhir-kit-client';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { Browser, forms, inputValues } from '../helpers/browser.js';
import { startSmartApp, type TestSmartApp } from '../helpers/smart-app.js';

/**
 * Standalone launch end to end (https://hl7.org/fhir/smart-app-launch/app-launch.html#launch-app-standalone-launch):
 * SMART's own client library drives the authorization, a scripted user signs in and
 * consents on the server's pages, and the token it gets reads data.
 */
describe('standalone launch with fhirclient', () => {
  let t: TestApp;
  let app: TestSmartApp;
  let clientId: string;
  let patientId: string;
  const scope = 'launch/patient openid fhirUser offline_access patient/Patient.rs patient/Observation.rs';

  beforeAll(async () => {
    t = await startTestApp('sqlite');
    patientId = (await fhirFetch(t, 'Patient', { method: 'POST', body: { resourceType: 'Patient', name: [{ family: 'Rivera', given: ['Ana'] }] } })).body.id;
    await fhirFetch(t, 'Patient', { method: 'POST', body: { resourceType: 'Patient', name: [{ family: 'Other' }] } });
    await t.app.smart.users.add({ username: 'ana', password: 'correct horse battery', role: 'patient', fhirUser: `Patient/${patientId}` });
    await t.app.smart.users.add({ username: 'dr.lee', password: 'correct horse battery', role: 'practitioner', fhirUser: 'Practitioner/lee' });
    app = await startSmartApp({ clientId: 'pending', scope, iss: t.base });
    const { client } = await t.app.smart.clients.add(
      { client_name: 'Test App', redirect_uris: [app.redirectUri], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], scope },
      { by: 'operator' },
    );
    clientId = client.clientId;
    app.configure({ clientId });
  });
  afterAll(async () => {
    await app.stop();
    await t.stop();
  });

  it('a patient signs in, consents, and the app reads their record', async () => {
    const browser = new Browser();
    const login = await browser.get(`${app.origin}/launch`);
    expect(login.status).toBe(200);
    expect(login.text).toContain('name="password"');
    const consent = await browser.submit(forms(login)[0], { username: 'ana', password: 'correct horse battery' });
    expect(consent.status).toBe(200);
    expect(inputValues(consent, 'scope')).toEqual(scope.split(' '));
    const done = await browser.submit(forms(consent)[0], { scope: inputValues(consent, 'scope'), decision: 'allow' });
    expect(done.status).toBe(200);
    const result = JSON.parse(done.text);
    const tr = result.tokenResponse;
    expect(tr.token_type).toBe('Bearer');
    expect(tr.patient).toBe(patientId);
    expect(tr.scope.split(' ').sort()).toEqual(scope.split(' ').sort());
    expect(tr.refresh_token).toEqual(expect.any(String));
    expect(tr.id_token).toEqual(expect.any(String));
    expect(tr.need_patient_banner).toBe(true);
    expect(tr.smart_style_url).toBe(`${t.config.issuer}/smart-style.json`);
    expect(tr.expires_in).toBeLessThanOrEqual(3600);
    expect(result.fhirUser).toBe(`Patient/${patientId}`);
    const fhir = new Client({ baseUrl: t.base, bearerToken: tr.access_token });
    const read = (await fhir.read({ resourceType: "Patient", id: patientId })) as unknown as { id: string };
    expect(read.id).toBe(patientId);
  });

  it('a practitioner picks a patient first', async () => {
    const browser = new Browser();
    const login = await browser.get(`${app.origin}/launch`);
    const picker = await browser.submit(forms(login)[0], { username: 'dr.lee', password: 'correct horse battery' });
    expect(picker.status).toBe(200);
    expect(inputValues(picker, 'patient')).toContain(patientId);
    const consent = await browser.submit(forms(picker)[0], { patient: patientId });
    expect(consent.text).toContain('Rivera');
    const done = await browser.submit(forms(consent)[0], { scope: inputValues(consent, 'scope'), decision: 'allow' });
    const tr = JSON.parse(done.text).tokenResponse;
    expect(tr.patient).toBe(patientId);
    expect(JSON.parse(done.text).fhirUser).toBe('Practitioner/lee');
  });
});
