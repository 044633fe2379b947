import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { connect } from '../../server/db/connect.js';
import { startTestApp, TEST_SECRET_KEY, type TestApp } from '../helpers/app.js';
import { postForm } from '../helpers/auth.js';
import { freshDatabase, type TestDatabase } from '../helpers/db.js';
import { runKiln } from '../helpers/kiln.js';
import { addApp, addPatientUser, authorizeWithPkce, refresh, type TestClient } from '../helpers/oauth.js';

/**
 * Everything the authorization server knows lives in the database, so a restart loses
 * nothing and several processes on one PostgreSQL database act as one server: tokens,
 * grants, revocations and the signing key are shared.
 */

const SCOPE = 'openid fhirUser launch/patient offline_access patient/Patient.rs';
const ENV = { KILN_SECRET_KEY: TEST_SECRET_KEY };

/** Status of a FHIR read sent to `origin` (which may be one of several processes behind one base URL). */
async function readAt(origin: string, t: TestApp, path: string, token: string): Promise<number> {
  const res = await fetch(`${origin}${new URL(t.base).pathname}/${path}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
  await res.arrayBuffer();
  return res.status;
}

async function jwks(origin: string): Promise<string[]> {
  const body = (await (await fetch(`${origin}/oauth/jwks`)).json()) as { keys: { kid: string }[] };
  return body.keys.map((k) => k.kid);
}

describe('a restart on SQLite', () => {
  it('keeps refresh tokens, access tokens and the signing key', async () => {
    const shared = await freshDatabase('sqlite');
    const a = await startTestApp('sqlite', ENV, { database: shared });
    const user = await addPatientUser(a);
    const app: TestClient = await addApp(a, SCOPE);
    const first = await authorizeWithPkce(a, app, { username: user.username });
    expect(first.status).toBe(200);
    const kids = await jwks(a.origin);
    const port = Number(new URL(a.origin).port);
    await a.stop();
    await shared.db.close();

    const reopened: TestDatabase = { db: connect(shared.url), url: shared.url, drop: async () => undefined };
    const b = await startTestApp('sqlite', ENV, { database: reopened, port });
    try {
      expect(b.base).toBe(a.base);
      expect(await jwks(b.origin)).toEqual(kids);
      expect(await readAt(b.origin, b, `Patient/${user.patientId}`, first.body.access_token)).toBe(200);
      const next = await refresh(b, app, first.body.refresh_token);
      expect(next.status).toBe(200);
      expect(next.body.patient).toBe(user.patientId);
      expect(await readAt(b.origin, b, `Patient/${user.patientId}`, next.body.access_token)).toBe(200);
      // Rotation was remembered across the restart too.
      expect((await refresh(b, app, first.body.refresh_token)).body.error).toBe('invalid_grant');
    } finally {
      await b.stop();
      await reopened.db.close();
      rmSync(dirname(shared.url.slice('sqlite:'.length)), { recursive: true, force: true });
    }
  });
});

describe('a restart with another key', () => {
  it('refuses to start, in one line, and exits', async () => {
    const shared = await freshDatabase('sqlite');
    const a = await startTestApp('sqlite', ENV, { database: shared });
    await a.stop();
    await shared.db.close();
    try {
      const run = await runKiln(['serve'], {
        env: { DATABASE_URL: shared.url, KILN_SECRET_KEY: 'another-key-material-that-is-long-enough-0123456789', PORT: '0', KILN_SAMPLE_DATA: 'false' },
        timeoutMs: 30_000,
      });
      expect(run.signal).toBeNull();
      expect(run.code).toBe(2);
      expect(run.stderr.trim().split('\n').filter((l) => !l.includes('oidc-provider'))).toEqual([
        expect.stringMatching(/^kiln: Invalid configuration KILN_SECRET_KEY: .* does not open the secrets stored in this database/),
      ]);
    } finally {
      rmSync(dirname(shared.url.slice('sqlite:'.length)), { recursive: true, force: true });
    }
  });
});

describe('two processes on one PostgreSQL database', () => {
  const url = process.env.KILN_TEST_DATABASE_URL;
  if (!url) console.log('PostgreSQL multi-process test skipped: set KILN_TEST_DATABASE_URL=postgres://... to run it');
  const pgIt = url ? it : it.skip;
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  pgIt('accept each other’s tokens and see each other’s revocations at once', async () => {
    const shared = await freshDatabase('postgres');
    cleanup.push(() => shared.drop());
    const a = await startTestApp('postgres', ENV, { database: shared });
    cleanup.push(() => a.stop());
    // B serves the same public base URL from its own port, as behind a load balancer.
    const second: TestDatabase = { db: connect(url as string, { schema: shared.schema }), url: shared.url, schema: shared.schema, drop: async () => undefined };
    cleanup.push(() => second.db.close());
    const b = await startTestApp('postgres', { ...ENV, KILN_BASE_URL: a.base }, { database: second });
    cleanup.push(() => b.stop());
    expect(await jwks(b.origin)).toEqual(await jwks(a.origin));

    const user = await addPatientUser(a);
    const app = await addApp(a, SCOPE);
    const tokens = await authorizeWithPkce(a, app, { username: user.username });
    expect(tokens.status).toBe(200);
    const read = `Patient/${user.patientId}`;
    expect(await readAt(b.origin, a, read, tokens.body.access_token)).toBe(200);

    // A refresh at B, with the refresh token A issued.
    const atB = await postForm(`${b.origin}/oauth/token`, { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_id: app.clientId });
    expect(atB.status).toBe(200);
    expect(await readAt(a.origin, a, read, atB.body.access_token)).toBe(200);

    // Revoked through A, refused by B on its next request.
    const revoked = await postForm(`${a.origin}/oauth/token/revocation`, { token: atB.body.access_token, client_id: app.clientId });
    expect(revoked.status).toBe(200);
    expect(await readAt(b.origin, a, read, atB.body.access_token)).toBe(401);
    // Revoking an access token ends its grant, everywhere.
    expect((await postForm(`${b.origin}/oauth/token`, { grant_type: 'refresh_token', refresh_token: atB.body.refresh_token, client_id: app.clientId })).body.error).toBe('invalid_grant');

    // A client disabled through A's registry is refused by B at once.
    const other = await authorizeWithPkce(a, app, { username: user.username });
    await a.app.smart.clients.setStatus(app.clientId, 'disabled');
    expect(await readAt(b.origin, a, read, other.body.access_token)).toBe(401);
  });
});
