import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fhirFetch, startTestApp, TEST_SECRET_KEY, type TestApp } from '../helpers/app.js';
import { runKiln } from '../helpers/kiln.js';

/** `kiln token`: the operator's way to a backend token, checked by the running server like any other. */
describe('kiln token', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp('sqlite');
  });
  afterAll(() => t.stop());

  const kiln = (...args: string[]) => kilnWithKey(TEST_SECRET_KEY, ...args);
  const kilnWithKey = (key: string, ...args: string[]) =>
    runKiln(['token', ...args], { env: { DATABASE_URL: t.database.url, KILN_SECRET_KEY: key, KILN_BASE_URL: t.base } });

  it('prints a token the server accepts, limited to the scopes asked for', async () => {
    const run = await kiln('--scope', 'system/Patient.rs');
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out.scope).toBe('system/Patient.rs');
    expect(out.expires_in).toBeLessThanOrEqual(300);
    expect((await fhirFetch(t, 'Patient', { token: out.access_token })).status).toBe(200);
    expect((await fhirFetch(t, 'Patient', { token: 'not-a-token' })).status).toBe(401);
    const quiet = await kiln('--quiet', '--scope', 'system/Patient.rs');
    expect(quiet.stdout.trim()).toMatch(/^[A-Za-z0-9_-]{40,}$/);
  });

  it('refuses scopes other than system/ ones, and unknown clients', async () => {
    const patient = await kiln('--scope', 'patient/Patient.rs');
    expect(patient.code).toBe(2);
    expect(patient.stderr).toContain('client_credentials');
    const unknown = await kiln('--scope', 'system/Patient.rs', '--client', 'nobody');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('nobody');
  });

  it('says so in one line when KILN_SECRET_KEY is not the key the database was made with', async () => {
    const run = await kilnWithKey('another-key-material-that-is-long-enough-0123456789', '--scope', 'system/Patient.rs');
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n').filter((l) => !l.includes('oidc-provider'))).toEqual([
      expect.stringMatching(/^kiln: Invalid configuration KILN_SECRET_KEY: the key given in KILN_SECRET_KEY does not open the secrets stored in this database/),
    ]);
  });
});
