import type { Knex } from 'knex';
import { engines, freshDatabase, type TestDatabase } from '../helpers/db.js';
import { extractIndexRows } from '../../server/search/extract.js';
import { addDateSpans, addItemColumns, createSearchTables, dropSearchTables, SEARCH_TABLES } from '../../server/search/schema.js';
import { emptyIndexRows, type IndexRows } from '../../server/search/types.js';
import { deleteIndexRows, writeIndexRowsBatch, type IndexWrite } from '../../server/search/write.js';

/**
 * The index tables and writer on real databases: SQLite always, PostgreSQL when
 * KILN_TEST_DATABASE_URL is set (in a schema of its own, dropped at the end).
 */

const patient = {
  resourceType: 'Patient',
  id: 'p1',
  identifier: [{ system: 'http://example.org/mrn', value: 'M1' }],
  name: [{ family: 'Núñez', given: ['José'] }],
  birthDate: '1970-05',
  gender: 'male',
};
const observation = {
  resourceType: 'Observation',
  id: 'o1',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '8302-2' }] },
  subject: { reference: 'Patient/p1' },
  effectiveDateTime: '2020-01-01T10:00:00Z',
  valueQuantity: { value: 180.5, system: 'http://unitsofmeasure.org', code: 'cm' },
};
const provenance = { resourceType: 'Provenance', id: 'v1', target: [{ reference: 'Observation/o1/_history/1' }], recorded: '2020-01-01T10:00:00Z', agent: [] };

/** The resource keys (`rid`) these tests give their resources; the tables know no other name for them. */
const RID: Record<string, number> = { p1: 1, o1: 2, v1: 3, p2: 4, b0: 10, b1: 11, b2: 12, b3: 13 };

function indexWrite(r: { resourceType: string; id: string }): IndexWrite {
  return { resourceType: r.resourceType, rid: RID[r.id], rows: extractIndexRows(r) };
}

async function rowsOf(db: Knex, table: string, id: string): Promise<Record<string, unknown>[]> {
  return db(table).where({ rid: RID[id] }).select();
}

describe.each(engines())('search index tables on %s', (engineName) => {
  let db: Knex;
  let fresh: TestDatabase;

  beforeAll(async () => {
    fresh = await freshDatabase(engineName);
    db = fresh.db.knex;
    await createSearchTables(db);
    await createSearchTables(db); // idempotent: a re-run migration must not fail
    await addItemColumns(db);
    await addItemColumns(db);
    await addDateSpans(db);
    await addDateSpans(db);
  });
  afterAll(async () => {
    await dropSearchTables(db);
    await fresh.drop();
  });

  it('creates every table', async () => {
    for (const table of Object.values(SEARCH_TABLES)) expect(await db.schema.hasTable(table)).toBe(true);
    if (engineName === 'postgres') {
      // Bytewise order, as SQLite's: what lets a b-tree index serve prefix ranges.
      const columns = await db('information_schema.columns').where({ table_schema: fresh.schema, table_name: 'search_string', column_name: 'value' }).pluck('collation_name');
      expect(columns).toEqual(['C']);
    }
  });

  it('writes, replaces and deletes the rows of a resource', async () => {
    await db.transaction((trx) => writeIndexRowsBatch(trx, [indexWrite(patient)], { replace: false }));
    const strings = await rowsOf(db, SEARCH_TABLES.string, 'p1');
    expect(strings.filter((r) => r.code === 'family').map((r) => ({ ...r, rid: Number(r.rid) }))).toEqual([
      { rid: RID.p1, resource_type: 'Patient', code: 'family', item: null, value: 'nunez', exact: 'Núñez' },
    ]);
    const dates = (await rowsOf(db, SEARCH_TABLES.date, 'p1')).map((r) => ({ ...r, rid: Number(r.rid) }));
    expect(dates).toEqual([{ rid: RID.p1, resource_type: 'Patient', code: 'birthdate', item: null, start: '1970-05-01T00:00:00.000Z', end: '1970-05-31T23:59:59.999Z', span: 1 }]);

    const updated = { ...patient, name: [{ family: 'Smith' }], birthDate: undefined };
    await db.transaction((trx) => writeIndexRowsBatch(trx, [indexWrite(updated)]));
    const families = (await rowsOf(db, SEARCH_TABLES.string, 'p1')).filter((r) => r.code === 'family');
    expect(families.map((r) => r.exact)).toEqual(['Smith']);
    expect(await rowsOf(db, SEARCH_TABLES.date, 'p1')).toEqual([]);

    await db.transaction((trx) => deleteIndexRows(trx, RID.p1));
    for (const table of Object.values(SEARCH_TABLES)) expect(await rowsOf(db, table, 'p1')).toEqual([]);
  });

  it('answers the lookups search runs: token, quantity, and reverse references', async () => {
    await writeIndexRowsBatch(db, [observation, provenance].map(indexWrite), { replace: false });
    const byCode = await db(SEARCH_TABLES.token).where({ resource_type: 'Observation', code: 'code', value: '8302-2', system: 'http://loinc.org' }).pluck('rid');
    expect(byCode.map(Number)).toEqual([RID.o1]);
    const quantity = await db(SEARCH_TABLES.quantity).where({ resource_type: 'Observation', code: 'value-quantity' }).first();
    expect(quantity).toMatchObject({ unit_code: 'cm', value: 180.5, low: 180.45, high: 180.55 });
    // _revinclude=Provenance:target for Observation/o1
    const revinclude = await db(SEARCH_TABLES.reference).where({ target_type: 'Observation', target_id: 'o1', code: 'target', resource_type: 'Provenance' }).select('rid', 'target_version');
    expect(revinclude.map((r) => ({ ...r, rid: Number(r.rid) }))).toEqual([{ rid: RID.v1, target_version: '1' }]);
    const forward = await db(SEARCH_TABLES.reference).where({ resource_type: 'Observation', code: 'patient', target_type: 'Patient', target_id: 'p1' }).pluck('rid');
    expect(forward.map(Number)).toEqual([RID.o1]);
    // A composite's component rows carry the number of the item they belong to.
    const composite = await db(SEARCH_TABLES.quantity).where({ rid: RID.o1, code: 'code-value-quantity$1' }).select('item', 'value');
    expect(composite).toEqual([{ item: 0, value: 180.5 }]);
    // Prefix search on normalised text: a range both engines serve from the index.
    const p2 = { ...patient, id: 'p2' };
    await writeIndexRowsBatch(db, [indexWrite(p2)], { replace: false });
    const prefix = await db(SEARCH_TABLES.string).where({ resource_type: 'Patient', code: 'family' }).andWhere('value', '>=', 'nu').andWhere('value', '<', 'nu\uffff').pluck('rid');
    expect(prefix.map(Number)).toEqual([RID.p2]);
  });

  it('splits large writes into several statements and replaces many resources at once', async () => {
    const many = (n: number, tag: string): IndexRows => {
      const rows = emptyIndexRows();
      for (let i = 0; i < n; i++) rows.token.push({ code: '_tag', system: 'http://example.org/bulk', value: `${tag}-${i}` });
      return rows;
    };
    // 5 columns per token row: 20,000 rows exceed one statement on both engines.
    const writes = Array.from({ length: 4 }, (_, i) => ({ resourceType: 'Basic', rid: RID[`b${i}`], rows: many(5000, 'first') }));
    await db.transaction((trx) => writeIndexRowsBatch(trx, writes, { replace: false }));
    const count = async (): Promise<number> => Number((await db(SEARCH_TABLES.token).where({ resource_type: 'Basic' }).count({ n: '*' }))[0].n);
    expect(await count()).toBe(20_000);
    await db.transaction((trx) => writeIndexRowsBatch(trx, writes.map((w) => ({ ...w, rows: many(2, 'second') }))));
    expect(await count()).toBe(8);
    const values = await db(SEARCH_TABLES.token).where({ rid: RID.b3 }).orderBy('value').pluck('value');
    expect(values).toEqual(['second-0', 'second-1']);
  });
});
