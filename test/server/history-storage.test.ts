import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { migrate, migrateDownThrough } from '../../server/db/migrations.js';
import { engines } from '../helpers/db.js';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';

/**
 * A resource's current JSON is stored once, in `resources`; its history row holds it only
 * once a newer version supersedes it (server/db/store.ts). What clients read must not
 * show it: vread and history answer every version's own content.
 */
describe.each(engines())('history storage on %s', (engine) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(engine, { KILN_AUTO_PROVENANCE: 'false' });
  });
  afterAll(() => t.stop());

  const stored = async (id: string) =>
    (await t.database.db.knex('resource_history').where({ resource_type: 'Patient', id }).orderBy('version_id').select('version_id', 'content')) as {
      version_id: number;
      content: string;
    }[];
  const content = (body: string) => (JSON.parse(body) as { gender?: string; meta: { versionId: string } });

  it('keeps the current version in resources only, and moves it to history when superseded', async () => {
    const id = 'stored-once';
    await fhirFetch(t, `Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id, gender: 'female' } });
    expect((await stored(id)).map((r) => r.content)).toEqual(['']);
    await fhirFetch(t, `Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id, gender: 'male' } });
    const rows = await stored(id);
    expect(rows.map((r) => Number(r.version_id))).toEqual([1, 2]);
    expect(content(rows[0].content)).toMatchObject({ gender: 'female', meta: { versionId: '1' } });
    expect(rows[1].content).toBe('');
  });

  it('answers vread and every kind of history with each version as it was', async () => {
    const id = 'three-versions';
    for (const gender of ['female', 'male', 'other']) {
      await fhirFetch(t, `Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id, gender } });
    }
    for (const [v, gender] of [['1', 'female'], ['2', 'male'], ['3', 'other']]) {
      const res = await fhirFetch(t, `Patient/${id}/_history/${v}`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ gender, meta: { versionId: v } });
    }
    const instance = await fhirFetch(t, `Patient/${id}/_history`);
    expect(instance.body.entry.map((e: { resource: { gender: string } }) => e.resource.gender)).toEqual(['other', 'male', 'female']);
    const type = await fhirFetch(t, 'Patient/_history?_count=100');
    const ours = type.body.entry.filter((e: { resource: { id: string } }) => e.resource.id === id);
    expect(ours.map((e: { resource: { gender: string } }) => e.resource.gender)).toEqual(['other', 'male', 'female']);
    const system = await fhirFetch(t, '_history?_count=100');
    expect(system.body.entry.find((e: { resource: { id: string } }) => e.resource.id === id).resource.gender).toBe('other');
  });

  it('keeps a deleted version and the one before it readable, and a re-created resource too', async () => {
    const id = 'deleted-then-back';
    await fhirFetch(t, `Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id, gender: 'female' } });
    expect((await fhirFetch(t, `Patient/${id}`, { method: 'DELETE' })).status).toBeLessThan(300);
    expect((await fhirFetch(t, `Patient/${id}/_history/1`)).body.gender).toBe('female');
    expect((await fhirFetch(t, `Patient/${id}/_history/2`)).status).toBe(410);
    await fhirFetch(t, `Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id, gender: 'male' } });
    expect((await fhirFetch(t, `Patient/${id}/_history/1`)).body.gender).toBe('female');
    expect((await fhirFetch(t, `Patient/${id}/_history/3`)).body.gender).toBe('male');
    const history = await fhirFetch(t, `Patient/${id}/_history`);
    expect(history.body.entry.map((e: { request: { method: string } }) => e.request.method)).toEqual(['PUT', 'DELETE', 'PUT']);
    expect((await stored(id)).map((r) => r.content === '')).toEqual([false, false, true]);
  });

  it('reads and supersedes history rows written before the rule, which hold the current content too', async () => {
    const id = 'older-row';
    const first = await fhirFetch(t, `Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id, gender: 'female' } });
    // As every version was stored before: the current JSON in the history row as well.
    await t.database.db.knex('resource_history').where({ resource_type: 'Patient', id, version_id: 1 }).update({ content: JSON.stringify(first.body) });
    expect((await fhirFetch(t, `Patient/${id}/_history/1`)).body.gender).toBe('female');
    await fhirFetch(t, `Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id, gender: 'male' } });
    expect((await fhirFetch(t, `Patient/${id}/_history/1`)).body.gender).toBe('female');
    expect((await fhirFetch(t, `Patient/${id}/_history/2`)).body.gender).toBe('male');
  });

  it('rolls the move back with the write that failed', async () => {
    const id = 'rolled-back';
    await fhirFetch(t, `Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id, gender: 'female' } });
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: { resourceType: 'Patient', id, gender: 'male' }, request: { method: 'PUT', url: `Patient/${id}` } },
        // Fails after the update above has run: the version it asks for is not current.
        { resource: { resourceType: 'Patient', id: 'other', gender: 'male' }, request: { method: 'PUT', url: 'Patient/other', ifMatch: 'W/"7"' } },
      ],
    };
    const res = await fhirFetch(t, '', { method: 'POST', body: bundle });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect((await stored(id)).map((r) => r.content)).toEqual(['']);
    expect((await fhirFetch(t, `Patient/${id}`)).body.gender).toBe('female');
    expect((await fhirFetch(t, `Patient/${id}/_history/1`)).body.gender).toBe('female');
  });

  it('keeps every version whole when many updates of one resource race', async () => {
    const id = 'raced';
    await fhirFetch(t, `Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id, gender: 'unknown' } });
    const names = Array.from({ length: 20 }, (_, i) => `n${i}`);
    const results = await Promise.all(
      names.map((family) => fhirFetch(t, `Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id, name: [{ family }] } })),
    );
    // Racing updates may be refused (409, to retry), never lost in part.
    const done = results.filter((r) => r.status === 200);
    expect(done.length + results.filter((r) => r.status === 409).length).toBe(names.length);
    const rows = await stored(id);
    expect(rows.map((r) => Number(r.version_id))).toEqual(Array.from({ length: done.length + 1 }, (_, i) => i + 1));
    expect(rows.filter((r) => r.content === '').map((r) => Number(r.version_id))).toEqual([done.length + 1]);
    const families: string[] = [];
    for (const r of rows.slice(1)) {
      const v = await fhirFetch(t, `Patient/${id}/_history/${r.version_id}`);
      expect(v.body.meta.versionId).toBe(String(r.version_id));
      families.push(v.body.name[0].family);
    }
    expect(families.sort()).toEqual(done.map((r) => r.body.name[0].family).sort());
  });

  it('puts the current JSON back into the history rows when migration 0013 is undone, and reads alike after it is redone', async () => {
    const id = 'migrated';
    await fhirFetch(t, `Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id, gender: 'female' } });
    await fhirFetch(t, `Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id, gender: 'male' } });
    const knex = t.database.db.knex;
    await migrateDownThrough(knex, '0013_history_current_once');
    expect(await knex('resource_history').where({ content: '' }).count({ n: '*' })).toEqual([{ n: engine === 'sqlite' ? 0 : '0' }]);
    expect((await stored(id)).map((r) => content(r.content).gender)).toEqual(['female', 'male']);
    await migrate(knex);
    expect((await fhirFetch(t, `Patient/${id}/_history/2`)).body.gender).toBe('male');
    await fhirFetch(t, `Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id, gender: 'other' } });
    expect((await fhirFetch(t, `Patient/${id}/_history`)).body.entry.map((e: { resource: { gender: string } }) => e.resource.gender)).toEqual(['other', 'male', 'female']);
  });
});
