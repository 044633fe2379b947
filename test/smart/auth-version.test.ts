import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AUTH_VERSION_TABLE } from '../../server/db/auth-version.js';
import { reportsVersion } from '../../server/http/adapter.js';
import { migrate, migrateDownThrough } from '../../server/db/migrations.js';
import { AUTH_TABLES } from '../../smart/db/schema.js';
import { optIn, optOut } from '../../smart/optout.js';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { userToken } from '../helpers/auth.js';
import { engines } from '../helpers/db.js';

/**
 * Migration `0010_auth_version` and what the token check does with it on PostgreSQL
 * (server/db/auth-version.ts): every change that can end a checked token raises the
 * version in its own transaction, and a GET whose token was checked before proves the
 * answer with its own statement instead of looking the token up again.
 */

const onPostgres = engines().includes('postgres');

describe('migration 0010_auth_version on sqlite', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp('sqlite', { KILN_SAMPLE_DATA: 'false' });
  });
  afterAll(() => t.stop());

  it('makes nothing: SQLite proves answers with data_version', async () => {
    expect(await t.app.db.knex.schema.hasTable(AUTH_VERSION_TABLE)).toBe(false);
    expect(t.app.db.authVersion).toBeUndefined();
  });
});

describe('which GETs report the version with their own statement', () => {
  it('reads by id and searches, but not history or a search counting a total', () => {
    expect(reportsVersion(['Patient', 'p1'], {})).toBe(true);
    expect(reportsVersion(['Observation'], { code: ['x'] })).toBe(true);
    expect(reportsVersion([], { _type: ['Patient'] })).toBe(true);
    expect(reportsVersion(['Patient', 'p1', 'Observation'], {})).toBe(true);
    expect(reportsVersion(['Observation'], { _total: ['none'] })).toBe(true);
    expect(reportsVersion(['Observation'], { _total: ['accurate'] })).toBe(false);
    expect(reportsVersion(['Patient', 'p1', '_history'], {})).toBe(false);
    expect(reportsVersion(['Patient', '_history'], {})).toBe(false);
    expect(reportsVersion(['Patient', 'p1', '_history', '1'], {})).toBe(false);
  });
});

// engines() has printed why, when PostgreSQL is not configured.
(onPostgres ? describe : describe.skip)('the authorization version on postgres', () => {
  let t: TestApp;
  let patientId: string;
  beforeAll(async () => {
    t = await startTestApp('postgres', { KILN_SAMPLE_DATA: 'false' });
    patientId = (await fhirFetch(t, 'Patient', { method: 'POST', body: { resourceType: 'Patient', name: [{ family: 'Versioned' }] } })).body.id;
  });
  afterAll(() => t.stop());

  const version = async () => Number((await t.app.db.knex(AUTH_VERSION_TABLE).where({ id: 1 }).first('version')).version);
  /** Runs `change` and says by how much it raised the version. */
  const raised = async (change: () => Promise<unknown>) => {
    const before = await version();
    await change();
    return (await version()) - before;
  };
  const models = () => t.app.db.knex(AUTH_TABLES.models);

  it('is raised by every change that can end a token, once per statement', async () => {
    const { token, userId } = await userToken(t.app, { scope: 'patient/Patient.rs', patient: patientId });
    const grantId = (await models().where({ kind: 'AccessToken', id: token }).first('grant_id')).grant_id as string;
    expect(grantId).toBeTruthy();
    expect(await raised(() => models().where({ kind: 'AccessToken', id: token }).update({ expires_at: Date.now() + 60_000 }))).toBe(1);
    expect(await raised(() => t.app.smart.users.setDisabled(userId, true))).toBe(1);
    expect(await raised(() => t.app.smart.users.setDisabled(userId, false))).toBe(1);
    expect(await raised(() => optOut(t.app.db.knex, patientId))).toBe(1);
    expect(await raised(() => optIn(t.app.db.knex, patientId))).toBe(1);
    expect(await raised(() => t.app.db.knex(AUTH_TABLES.clients).update({ status: 'enabled' }))).toBe(1);
    expect(await raised(() => models().where({ kind: 'Grant', id: grantId }).delete())).toBe(1);
    // Several tokens in one statement: once.
    const more = await Promise.all([1, 2, 3].map(() => userToken(t.app, { scope: 'patient/Patient.rs', patient: patientId })));
    expect(await raised(() => models().whereIn('id', more.map((m) => m.token)).where({ kind: 'AccessToken' }).delete())).toBe(1);
  });

  it('is raised by a change made by hand in another search_path', async () => {
    const knex = t.app.db.knex;
    const schema = (await knex.raw('select current_schema() as s')).rows[0].s as string;
    const change = () =>
      knex.transaction(async (trx) => {
        await trx.raw('set local search_path to public');
        await trx.raw('update ??.?? set status = status', [schema, AUTH_TABLES.clients]);
      });
    expect(await raised(change)).toBe(1);
  });

  it('is not raised by what leaves every token as it was', async () => {
    const row = { kind: 'Session', id: 'auth-version-session', payload: '{}', expires_at: Date.now() + 60_000 };
    expect(await raised(() => models().insert(row))).toBe(0);
    expect(await raised(() => models().where({ kind: 'Session', id: row.id }).update({ payload: '{"x":1}' }))).toBe(0);
    expect(await raised(() => models().where({ kind: 'Session', id: row.id }).delete())).toBe(0);
    expect(await raised(() => userToken(t.app, { scope: 'patient/Patient.rs', patient: patientId }))).toBe(0);
    expect(await raised(() => fhirFetch(t, 'Patient', { method: 'POST', body: { resourceType: 'Patient' } }))).toBe(0);
  });

  it('lets a GET with a remembered token answer without looking the token up, and still stop at once', async () => {
    const { token } = await userToken(t.app, { scope: 'patient/Patient.rs', patient: patientId });
    const lookups: string[] = [];
    const onQuery = (q: { sql: string }) => {
      if (q.sql.includes(AUTH_TABLES.models)) lookups.push(q.sql);
    };
    t.app.db.knex.on('query', onQuery);
    try {
      for (const path of [`Patient/${patientId}`, `Patient?_id=${patientId}`]) {
        expect((await fhirFetch(t, path, { token })).status).toBe(200);
        lookups.length = 0;
        expect((await fhirFetch(t, path, { token })).status).toBe(200);
        expect(lookups).toEqual([]);
      }
      // A 404 and an empty search carry the version too, or check the token afterwards.
      expect((await fhirFetch(t, 'Patient/no-such-patient', { token })).status).toBe(404);
      expect(lookups).toEqual([]);
      expect((await fhirFetch(t, 'Patient?_id=no-such-patient', { token })).status).toBe(200);
      expect(lookups.length).toBe(1);
      // A history read does not report the version: its token is checked beside it.
      lookups.length = 0;
      expect((await fhirFetch(t, `Patient/${patientId}/_history`, { token })).status).toBe(200);
      expect(lookups.length).toBe(1);
    } finally {
      t.app.db.knex.removeListener('query', onQuery);
    }
    await models().where({ kind: 'AccessToken', id: token }).delete();
    expect((await fhirFetch(t, `Patient/${patientId}`, { token })).status).toBe(401);
    expect((await fhirFetch(t, `Patient?_id=${patientId}`, { token })).status).toBe(401);
  });

  it('answers reads and checks every token while its row is gone', async () => {
    const { token } = await userToken(t.app, { scope: 'patient/Patient.rs', patient: patientId });
    const knex = t.app.db.knex;
    await knex(AUTH_VERSION_TABLE).delete();
    const lookups: string[] = [];
    const onQuery = (q: { sql: string }) => void (q.sql.includes(AUTH_TABLES.models) && lookups.push(q.sql));
    knex.on('query', onQuery);
    try {
      for (let i = 0; i < 2; i++) {
        expect((await fhirFetch(t, `Patient/${patientId}`, { token })).status).toBe(200);
        expect((await fhirFetch(t, 'Patient/no-such-patient', { token })).status).toBe(404);
      }
      expect(lookups.length).toBe(4);
    } finally {
      knex.removeListener('query', onQuery);
      await knex(AUTH_VERSION_TABLE).insert({ id: 1, version: 0 });
    }
  });

  it('goes down and up again', async () => {
    const knex = t.app.db.knex;
    await migrateDownThrough(knex, '0010_auth_version');
    expect(await knex.schema.hasTable(AUTH_VERSION_TABLE)).toBe(false);
    const triggers = await knex.raw('select tgname from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace where n.nspname = current_schema() and not t.tgisinternal');
    expect(triggers.rows).toEqual([]);
    await migrate(knex);
    expect(await version()).toBe(0);
    expect(await raised(() => optOut(knex, 'p-after'))).toBe(1);
  });
});
