import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fhirFetch, startTestApp, TEST_SECRET_KEY, type TestApp } from '../helpers/app.js';

/** `kiln token`: the operator's way to a backend token, checked by the running server like any other. */
describe('kiln token', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp('sqlite');
  });
  afterAll(() => t.stop());

  const kiln = (...args: string[]) => kilnWithKey(TEST_SECRET_KEY, ...args);
  const kilnWithKey = (key: string, ...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'server/bin.ts', 'token', ...args], {
      env: { ...process.env, DATABASE_URL: t.database.url, KILN_SECRET_KEY: key, KILN_BASE_URL: t.base, KILN_LOG_LEVEL: 'silent' },
      encoding: 'utf8',
    });

  it('prints a token the server accepts, limited to the scopes asked for', async () => {
    const run = kiln('--scope', 'system/Patient.rs');
    expect(run.status).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out.scope).toBe('system/Patient.rs');
    expect(out.expires_in).toBeLessThanOrEqual(300);
    expect((await fhirFetch(t, 'Patient', { token: out.access_token })).status).toBe(200);
    expect((await fhirFetch(t, 'Patient', { token: 'not-a-token' })).status).toBe(401);
    const quiet = kiln('--quiet', '--scope', 'system/Patient.rs');
    expect(quiet.stdout.trim()).toMatch(/^[A-Za-z0-9_-]{40,}$/);
  });

  it('refuses scopes other than system/ ones, and unknown clients', () => {
    const patient = kiln('--scope', 'patient/Patient.rs');
    expect(patient.status).toBe(2);
    expect(patient.stderr).toContain('client_credentials');
    const unknown = kiln('--scope', 'system/Patient.rs', '--client', 'nobody');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('nobody');
  });

  it('says so in one line when KILN_SECRET_KEY is not the key the database was made with', () => {
    const run = kilnWithKey('another-key-material-that-is-long-enough-0123456789', '--scope', 'system/Patient.rs');
    expect(run.status).toBe(2);
    expect(run.stderr.trim().split('\n').filter((l) => !l.includes('oidc-provider'))).toEqual([
      expect.stringMatching(/^kiln: Invalid configuration KILN_SECRET_KEY: the key given in KILN_SECRET_KEY does not open the secrets stored in this database/),
    ]);
  });
});
