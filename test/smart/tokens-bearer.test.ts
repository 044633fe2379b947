import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { userToken } from '../helpers/auth.js';
import { addApp, addPatientUser, authorizeWithPkce } from '../helpers/oauth.js';
import { AUTH_TABLES } from '../../smart/db/schema.js';

/**
 * The FHIR API's token check (RFC 6750 §3): every way a request's token can fail gets a
 * 401 with a Bearer challenge, and the error code RFC 6750 gives that case.
 */
describe('FHIR API token errors', () => {
  let t: TestApp;
  let patientId: string;
  let read: string;

  beforeAll(async () => {
    t = await startTestApp('sqlite');
    patientId = (await fhirFetch(t, 'Patient', { method: 'POST', body: { resourceType: 'Patient', name: [{ family: 'Bearer' }] } })).body.id;
    read = `Patient/${patientId}`;
  });
  afterAll(() => t.stop());

  const patientToken = async () => (await userToken(t.app, { scope: 'patient/Patient.rs', fhirUser: `Patient/${patientId}`, patient: patientId }));

  /** The 401's challenge parameters. */
  async function challenge(headers: Record<string, string>) {
    const res = await fhirFetch(t, read, { token: null, headers });
    expect(res.status).toBe(401);
    expect(res.body?.resourceType).toBe('OperationOutcome');
    const header = res.headers.get('www-authenticate') ?? '';
    expect(header).toMatch(/^Bearer realm="[^"]+"/);
    return Object.fromEntries([...header.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
  }

  it('asks for a token, without an error code, when none is sent', async () => {
    const params = await challenge({});
    expect(params.realm).toBe('kiln');
    expect(params.error).toBeUndefined();
  });

  it('answers a malformed Authorization header with invalid_request', async () => {
    const { token } = await patientToken();
    for (const authorization of [`Basic ${Buffer.from('a:b').toString('base64')}`, 'Bearer', 'Bearer ', `Bearer ${token} extra`, `Token ${token}`, `Bearer "${token}"`]) {
      expect((await challenge({ authorization })).error).toBe('invalid_request');
    }
  });

  it('answers unknown tokens, and tokens of the wrong kind, with invalid_token', async () => {
    const app = await addApp(t, 'openid fhirUser launch/patient offline_access patient/Patient.rs');
    const user = await addPatientUser(t);
    const tokens = (await authorizeWithPkce(t, app, { username: user.username })).body;
    for (const token of ['no-such-token', tokens.refresh_token, tokens.id_token, 'x'.repeat(600)]) {
      expect((await challenge({ authorization: `Bearer ${token}` })).error).toBe('invalid_token');
    }
    expect((await fhirFetch(t, `Patient/${user.patientId}`, { token: tokens.access_token })).status).toBe(200);
  });

  it('accepts the scheme in any case', async () => {
    const { token } = await patientToken();
    expect((await fhirFetch(t, read, { token: null, headers: { authorization: `bearer ${token}` } })).status).toBe(200);
  });

  it('answers an expired token with invalid_token', async () => {
    const { token } = await patientToken();
    expect((await fhirFetch(t, read, { token })).status).toBe(200);
    await t.app.db.knex(AUTH_TABLES.models).where({ kind: 'AccessToken', id: token }).update({ expires_at: Date.now() - 1000 });
    const params = await challenge({ authorization: `Bearer ${token}` });
    expect(params.error).toBe('invalid_token');
  });

  it('stops a token whose user is disabled, at once and only while disabled', async () => {
    const { token, userId } = await patientToken();
    await t.app.smart.users.setDisabled(userId, true);
    expect((await challenge({ authorization: `Bearer ${token}` })).error).toBe('invalid_token');
    await t.app.smart.users.setDisabled(userId, false);
    expect((await fhirFetch(t, read, { token })).status).toBe(200);
  });

  it('refuses a token whose grant is gone, even if the token row survived', async () => {
    const { token } = await patientToken();
    const row = await t.app.db.knex(AUTH_TABLES.models).where({ kind: 'AccessToken', id: token }).first();
    await t.app.db.knex(AUTH_TABLES.models).where({ kind: 'Grant', id: row.grant_id }).delete();
    expect((await challenge({ authorization: `Bearer ${token}` })).error).toBe('invalid_token');
  });

  it('refuses a token issued for another resource server', async () => {
    const { provider } = t.app.smart;
    const made = await patientToken();
    const client = await provider.Client.find(made.clientId);
    if (!client) throw new Error('client not found');
    const at = new provider.AccessToken({ accountId: made.userId, client, grantId: 'no-grant', gty: 'authorization_code', scope: 'patient/Patient.rs' });
    const elsewhere = 'https://other.example/fhir';
    at.resourceServer = new provider.ResourceServer(elsewhere, { scope: 'patient/Patient.rs', audience: elsewhere, accessTokenFormat: 'opaque', accessTokenTTL: 600 });
    expect((await challenge({ authorization: `Bearer ${await at.save()}` })).error).toBe('invalid_token');
  });

  it('serves metadata and the SMART configuration without a token', async () => {
    const metadata = await fhirFetch(t, 'metadata', { token: null });
    expect(metadata.status).toBe(200);
    expect(metadata.body.resourceType).toBe('CapabilityStatement');
    const wellKnown = await fetch(`${t.base}/.well-known/smart-configuration`);
    expect(wellKnown.status).toBe(200);
    expect((await wellKnown.json()).token_endpoint).toBe(`${t.config.issuer}/token`);
  });
});

/** The remembered answers GETs start from, on each engine. */
describe.each(engines())('remembered token checks (%s)', (engine) => {
  let t: TestApp;
  let patientId: string;
  let read: string;

  beforeAll(async () => {
    t = await startTestApp(engine);
    patientId = (await fhirFetch(t, 'Patient', { method: 'POST', body: { resourceType: 'Patient', name: [{ family: 'Remembered' }] } })).body.id;
    read = `Patient/${patientId}`;
  });
  afterAll(() => t.stop());

  const patientToken = async () => (await userToken(t.app, { scope: 'patient/Patient.rs', fhirUser: `Patient/${patientId}`, patient: patientId }));

  it('a remembered token still stops at once on reads, failing reads and searches', async () => {
    // GETs take a remembered answer and confirm it after their work (SQLite) or while it
    // runs (PostgreSQL), always before answering.
    for (const path of [read, 'Patient/no-such-id', `Patient?_id=${patientId}`]) {
      const { token, userId } = await patientToken();
      const before = await fhirFetch(t, path, { token });
      expect([200, 404]).toContain(before.status);
      // An unrelated commit: the remembered answer is checked afresh and still holds.
      await fhirFetch(t, 'Patient', { method: 'POST', body: { resourceType: 'Patient', name: [{ family: 'Unrelated' }] } });
      expect((await fhirFetch(t, path, { token })).status).toBe(before.status);
      await t.app.smart.users.setDisabled(userId, true);
      const after = await fhirFetch(t, path, { token });
      expect(after.status).toBe(401);
      expect(after.body.resourceType).toBe('OperationOutcome');
      expect(JSON.stringify(after.body)).not.toContain('"Bearer"');
      await t.app.smart.users.setDisabled(userId, false);
    }
  });

  it('a remembered token whose access token is revoked stops at once', async () => {
    const { token } = await patientToken();
    expect((await fhirFetch(t, read, { token })).status).toBe(200);
    expect((await fhirFetch(t, read, { token })).status).toBe(200);
    await t.app.db.knex(AUTH_TABLES.models).where({ kind: 'AccessToken', id: token }).delete();
    expect((await fhirFetch(t, read, { token })).status).toBe(401);
    expect((await fhirFetch(t, `Patient?_id=${patientId}`, { token })).status).toBe(401);
  });
});
