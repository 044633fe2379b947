import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { userToken } from '../helpers/auth.js';

describe('test tokens made through the provider models', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp('sqlite');
  });
  afterAll(() => t.stop());

  it('carry the scopes, the user and the launch context the FHIR API reads', async () => {
    const { token, clientId, userId } = await userToken(t.app, { scope: 'launch/patient patient/Observation.rs', patient: 'p1', fhirUser: 'Patient/p1' });
    const auth = await t.app.smart.bearer.authenticate(`Bearer ${token}`);
    expect(auth).toEqual({ clientId, userId, scopes: ['patient/Observation.rs'], patient: 'p1', encounter: undefined, fhirUser: 'Patient/p1' });
    expect((await fhirFetch(t, 'metadata', { token })).status).toBe(200);
  });

  it('a token checked a moment ago still meets every change at once (the check remembers nothing stale)', async () => {
    const { token, clientId } = await userToken(t.app, { scope: 'user/Patient.rs', fhirUser: 'Practitioner/p' });
    expect((await fhirFetch(t, 'Patient', { token })).status).toBe(200);
    expect((await fhirFetch(t, 'Patient', { token })).status).toBe(200);
    await t.app.smart.clients.setStatus(clientId, 'disabled');
    expect((await fhirFetch(t, 'Patient', { token })).status).toBe(401);
    await t.app.smart.clients.setStatus(clientId, 'enabled');
    expect((await fhirFetch(t, 'Patient', { token })).status).toBe(200);
    await t.app.db.knex('oauth_models').where({ kind: 'AccessToken', id: token }).delete();
    expect((await fhirFetch(t, 'Patient', { token })).status).toBe(401);
  });
});
