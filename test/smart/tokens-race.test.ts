import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { addApp, addPatientUser, authorize, authorizeWithPkce, exchange, pkce, readStatus, refresh, type TestClient } from '../helpers/oauth.js';

/**
 * Codes and refresh tokens are single-use even when several requests present one at
 * the same moment (each may be served by a different process on PostgreSQL): one wins,
 * the others count as a second use, and a second use revokes the grant
 * (RFC 6749 §4.1.2; RFC 9700 §4.14.2 for refresh tokens).
 */
describe.each(engines())('single use under concurrency (%s)', (engine) => {
  let t: TestApp;
  let app: TestClient;
  let user: { username: string; patientId: string };
  let read: string;

  beforeAll(async () => {
    t = await startTestApp(engine);
    app = await addApp(t, 'openid launch/patient offline_access patient/Patient.rs');
    user = await addPatientUser(t);
    read = `Patient/${user.patientId}`;
  });
  afterAll(() => t.stop());

  const outcomes = (results: { status: number; body: any }[]) => results.map((r) => (r.status === 200 ? 'ok' : r.body.error)).sort();

  it('exchanges a code once however many requests race for it, then revokes the grant', async () => {
    for (let round = 0; round < 3; round++) {
      const p = pkce();
      const out = await authorize(t, app, { username: user.username, params: { code_challenge: p.challenge } });
      const code = out.redirect?.searchParams.get('code') as string;
      const results = await Promise.all([1, 2, 3, 4].map(() => exchange(t, app, code, p.verifier)));
      expect(outcomes(results)).toEqual(['invalid_grant', 'invalid_grant', 'invalid_grant', 'ok']);
      const winner = results.find((r) => r.status === 200)?.body;
      expect(await readStatus(t, winner.access_token, read)).toBe(401);
      expect((await refresh(t, app, winner.refresh_token)).body.error).toBe('invalid_grant');
    }
  });

  it('rotates a refresh token once however many requests race for it, then revokes the grant', async () => {
    for (let round = 0; round < 3; round++) {
      const tokens = (await authorizeWithPkce(t, app, { username: user.username })).body;
      const results = await Promise.all([1, 2, 3, 4].map(() => refresh(t, app, tokens.refresh_token)));
      expect(outcomes(results)).toEqual(['invalid_grant', 'invalid_grant', 'invalid_grant', 'ok']);
      const winner = results.find((r) => r.status === 200)?.body;
      expect(await readStatus(t, winner.access_token, read)).toBe(401);
      expect((await refresh(t, app, winner.refresh_token)).body.error).toBe('invalid_grant');
    }
  });
});
