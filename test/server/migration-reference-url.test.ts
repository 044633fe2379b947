import { migrate, migrateDownThrough } from '../../server/db/migrations.js';
import { SEARCH_TABLES } from '../../server/search/schema.js';
import { findMatchingIds } from '../../server/search/query/index.js';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { engines, freshDatabase, type TestDatabase } from '../helpers/db.js';

/**
 * Migration `0009_reference_url_partial`: the reference index table's `url` index keeps
 * only rows that have a url (references to other servers), and searches by such a URL
 * still find their resources, on a database migrated up, down and up again.
 */

/** The definition of the url index, as the engine reports it. */
async function urlIndex(d: TestDatabase): Promise<string> {
  const knex = d.db.knex;
  const name = `${SEARCH_TABLES.reference}_url`;
  if (d.db.engine === 'sqlite') return (await knex('sqlite_master').where({ type: 'index', name }).first('sql'))?.sql ?? '';
  const rows = await knex.raw('select indexdef from pg_indexes where indexname = ? and schemaname = current_schema()', [name]);
  return rows.rows[0]?.indexdef ?? '';
}

const observation = (id: string, subject: string) => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '8302-2' }] },
  subject: { reference: subject },
});

describe.each(engines())('migration 0009_reference_url_partial on %s', (engine) => {
  let database: TestDatabase;
  let t: TestApp;
  const remote = 'https://elsewhere.example.org/fhir/Patient/r1';

  beforeAll(async () => {
    database = await freshDatabase(engine);
    t = await startTestApp(engine, { KILN_SAMPLE_DATA: 'false' }, { database });
    for (const [id, subject] of [['remote', remote], ['local', 'Patient/l1']]) {
      const put = await fhirFetch(t, `Observation/${id}`, { method: 'PUT', body: observation(id, subject) });
      expect(put.status).toBe(201);
    }
  });
  afterAll(async () => {
    await t.stop();
    await database.drop();
  });

  const found = async (query: string) => ((await fhirFetch(t, query)).body.entry ?? []).map((e: any) => e.resource.id);

  it('indexes only reference rows that have a url', async () => {
    expect(await urlIndex(database)).toMatch(/where\s+\(?[`"]?url[`"]?\s+is\s+not\s+null/i);
    const knex = database.db.knex;
    // `subject` and `patient` both index the remote reference; the local one has no url.
    expect(await knex(SEARCH_TABLES.reference).whereNotNull('url').distinct().pluck('url')).toEqual([remote]);
    expect(await knex(SEARCH_TABLES.reference).where({ target_id: 'l1' }).distinct().pluck('url')).toEqual([null]);
    expect(await found(`Observation?subject=${encodeURIComponent(remote)}`)).toEqual(['remote']);
    expect(await found('Observation?subject=Patient/l1')).toEqual(['local']);
  });

  it('goes down to a full index and up again, answering the same searches', async () => {
    const knex = database.db.knex;
    await migrateDownThrough(knex, '0009_reference_url_partial');
    expect(await urlIndex(database)).not.toMatch(/where/i);
    expect(await urlIndex(database)).toMatch(/url/);
    // The later migrations are down too, and the running server's token check needs
    // 0010's table: the search runs on the database itself, as the server's would.
    expect(await findMatchingIds(knex, 'Observation', `subject=${encodeURIComponent(remote)}`, 10, { baseUrl: t.base })).toEqual(['remote']);
    await migrate(knex);
    expect(await urlIndex(database)).toMatch(/where/i);
    expect(await found(`Observation?subject=${encodeURIComponent(remote)}`)).toEqual(['remote']);
  });
});
