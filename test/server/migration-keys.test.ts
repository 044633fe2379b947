import { migrate, migrateDownThrough, migrateTo } from '../../server/db/migrations.js';
import { extractIndexRows } from '../../server/search/extract.js';
import { SEARCH_TABLES } from '../../server/search/schema.js';
import { INDEX_KINDS } from '../../server/search/types.js';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { engines, freshDatabase, type TestDatabase } from '../helpers/db.js';

/**
 * Migration `0008_resource_keys` on a database written before it: resources get integer
 * keys, and the search index rows, which named their resource by type and id, name it by
 * that key. The migrated database must answer searches as before and take new writes;
 * the migration's `down` must give back the earlier shape with the same rows.
 */

const patient = { resourceType: 'Patient', id: 'p1', meta: { versionId: '1', lastUpdated: '2024-01-01T00:00:00.000Z' }, identifier: [{ system: 'http://example.org/mrn', value: 'M1' }], name: [{ family: 'Keyes' }] };
const observation = {
  resourceType: 'Observation',
  id: 'o1',
  meta: { versionId: '1', lastUpdated: '2024-01-02T00:00:00.000Z' },
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '8302-2' }] },
  subject: { reference: 'Patient/p1' },
  valueQuantity: { value: 180.5, system: 'http://unitsofmeasure.org', code: 'cm' },
};
const provenance = {
  resourceType: 'Provenance',
  id: 'v1',
  meta: { versionId: '1', lastUpdated: '2024-01-02T00:00:00.000Z' },
  target: [{ reference: 'Observation/o1/_history/1' }],
  recorded: '2024-01-02T00:00:00Z',
  agent: [{ who: { display: 'someone' } }],
};
const STORED = [patient, observation, provenance];

/** Writes `STORED` as the schema before 0008 held it: rows keyed by type and id. */
async function writeOldShape(d: TestDatabase): Promise<number> {
  const knex = d.db.knex;
  let rows = 0;
  for (const r of STORED) {
    const row = { resource_type: r.resourceType, id: r.id, version_id: 1, last_updated: r.meta.lastUpdated, deleted: false, content: JSON.stringify(r) };
    await knex('resources').insert(row);
    await knex('resource_history').insert({ ...row, method: 'PUT' });
    const index = extractIndexRows(r);
    for (const kind of INDEX_KINDS) {
      for (const values of index[kind] as unknown as Record<string, unknown>[]) {
        // Date rows had no `span` before migration 0011.
        const { span: _span, ...first } = values;
        await knex(SEARCH_TABLES[kind]).insert({ resource_type: r.resourceType, resource_id: r.id, ...first });
        rows++;
      }
    }
  }
  // A row whose resource is not there (none should be): the migration drops it.
  await knex(SEARCH_TABLES.token).insert({ resource_type: 'Patient', resource_id: 'gone', code: 'identifier', system: 'http://example.org/mrn', value: 'M1' });
  return rows;
}

async function countRows(d: TestDatabase): Promise<number> {
  let n = 0;
  for (const table of Object.values(SEARCH_TABLES)) n += Number((await d.db.knex(table).count({ n: '*' }))[0].n);
  return n;
}

describe.each(engines())('migration 0008_resource_keys on %s', (engine) => {
  let database: TestDatabase;
  let written: number;

  beforeAll(async () => {
    database = await freshDatabase(engine);
    await migrateTo(database.db.knex, '0007_search_statistics');
    written = await writeOldShape(database);
    await migrate(database.db.knex);
  });
  afterAll(async () => {
    await database.drop();
  });

  it('gives every resource its own key and moves every index row to it', async () => {
    const knex = database.db.knex;
    const keys = (await knex('resources').select('resource_type', 'id', 'rid')) as { resource_type: string; id: string; rid: number | string }[];
    expect(new Set(keys.map((k) => Number(k.rid))).size).toBe(STORED.length);
    expect(await knex.schema.hasColumn(SEARCH_TABLES.token, 'resource_id')).toBe(false);
    expect(await countRows(database)).toBe(written);
    const o1 = Number(keys.find((k) => k.id === 'o1')?.rid);
    const code = await knex(SEARCH_TABLES.token).where({ code: 'code', value: '8302-2' }).pluck('rid');
    expect(code.map(Number)).toEqual([o1]);
  });

  describe('the migrated database, served', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp(engine, { KILN_SAMPLE_DATA: 'false' }, { database });
    });
    afterAll(async () => {
      await t.stop();
    });

    it('answers searches from the moved rows', async () => {
      const byIdentifier = await fhirFetch(t, 'Patient?identifier=http://example.org/mrn|M1');
      expect(byIdentifier.body.entry.map((e: any) => e.resource.id)).toEqual(['p1']);
      const withProvenance = await fhirFetch(t, 'Observation?patient=p1&code=http://loinc.org|8302-2&_revinclude=Provenance:target');
      expect(withProvenance.body.entry.map((e: any) => `${e.search.mode} ${e.resource.resourceType}/${e.resource.id}`)).toEqual(['match Observation/o1', 'include Provenance/v1']);
      const chained = await fhirFetch(t, 'Observation?subject:Patient.name=keyes');
      expect(chained.body.entry.map((e: any) => e.resource.id)).toEqual(['o1']);
    });

    it('keys new resources after the old ones, and keeps a key through updates', async () => {
      const max = async () => Number((await database.db.knex('resources').max({ m: 'rid' }))[0].m);
      const before = await max();
      const created = await fhirFetch(t, 'Patient', { method: 'POST', body: { resourceType: 'Patient', name: [{ family: 'Newer' }] } });
      expect(created.status).toBe(201);
      const rid = async (id: string) => Number((await database.db.knex('resources').where({ resource_type: 'Patient', id }).first('rid')).rid);
      const newKey = await rid(created.body.id);
      expect(newKey).toBeGreaterThan(before);
      await fhirFetch(t, `Patient/${created.body.id}`, { method: 'PUT', body: { ...created.body, name: [{ family: 'Newest' }] } });
      expect(await rid(created.body.id)).toBe(newKey);
      const found = await fhirFetch(t, 'Patient?name=newest');
      expect(found.body.entry.map((e: any) => e.resource.id)).toEqual([created.body.id]);
      expect((await fhirFetch(t, 'Patient?name=newer')).body.entry ?? []).toEqual([]);
    });
  });

  it('goes back down to rows keyed by type and id, and up again', async () => {
    const knex = database.db.knex;
    const before = await countRows(database);
    await migrateDownThrough(knex, '0008_resource_keys');
    expect(await knex.schema.hasColumn('resources', 'rid')).toBe(false);
    expect(await knex.schema.hasColumn(SEARCH_TABLES.token, 'resource_id')).toBe(true);
    expect(await countRows(database)).toBe(before);
    const code = await knex(SEARCH_TABLES.token).where({ code: 'code', value: '8302-2' }).select('resource_type', 'resource_id');
    expect(code).toEqual([{ resource_type: 'Observation', resource_id: 'o1' }]);
    await migrate(knex);
    expect(await countRows(database)).toBe(before);
    expect(await knex.schema.hasColumn(SEARCH_TABLES.token, 'resource_id')).toBe(false);
  });
});
