import { spawn, spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../server/config.js';
import { openCore, type Core } from '../../server/core.js';
import { connect, type Database } from '../../server/db/connect.js';
import { createLogger } from '../../server/log.js';
import { migrate } from '../../server/db/migrations.js';
import { identifierQuery } from '../../server/import/resolve.js';
import { DEFERRAL_TABLE, deferQueryIndexes, IDENTIFIER_INDEX, isLive, restoreAtStart, restoreQueryIndexes } from '../../server/search/deferred-indexes.js';
import { queryIndexes, SEARCH_TABLES } from '../../server/search/schema.js';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { engines, freshDatabase } from '../helpers/db.js';

/**
 * A bulk load builds the search tables' query indexes after their rows on SQLite
 * (search/deferred-indexes.ts): the list of those indexes is the migrations', searches
 * answer the same without them, and they come back whole.
 */

/** The indexes of the `search_*` tables other than `_resource`: name → its definition, read from the catalog. */
async function indexesInCatalog(db: Database): Promise<Map<string, { columns: string[]; partial: string | null }>> {
  const out = new Map<string, { columns: string[]; partial: string | null }>();
  const tables = Object.values(SEARCH_TABLES);
  if (db.engine === 'sqlite') {
    const rows: { name: string; sql: string }[] = await db.knex('sqlite_master').where('type', 'index').whereIn('tbl_name', tables).whereNotNull('sql').select('name', 'sql');
    for (const { name, sql } of rows) {
      if (name.endsWith('_resource')) continue;
      const info: { name: string }[] = await db.knex.raw('select name from pragma_index_info(?) order by seqno', [name]);
      const where = /\swhere\s+(.*)$/i.exec(sql);
      out.set(name, { columns: info.map((c) => c.name), partial: where ? where[1].replaceAll(/["`]/g, '') : null });
    }
    return out;
  }
  const { rows } = (await db.knex.raw('select indexname, indexdef from pg_indexes where schemaname = current_schema() and tablename = any(?)', [tables])) as {
    rows: { indexname: string; indexdef: string }[];
  };
  for (const { indexname, indexdef } of rows) {
    if (indexname.endsWith('_resource')) continue;
    const m = /USING btree \(([^)]*)\)(?: WHERE \((.*)\))?$/.exec(indexdef);
    if (!m) throw new Error(`unexpected index definition: ${indexdef}`);
    out.set(indexname, { columns: m[1].split(', ').map((c) => c.replaceAll('"', '')), partial: m[2] ?? null });
  }
  return out;
}

/** What `queryIndexes` says, in the catalog's terms. */
function expected(): Map<string, { columns: string[]; partial: string | null }> {
  return new Map(queryIndexes().map((i) => [i.name, { columns: [...i.columns], partial: i.where ? `${i.where.column} is not null` : null }]));
}

describe.each(engines())('query indexes of the search tables (%s)', (engine) => {
  it('are the ones the migrations make, column for column', async () => {
    const database = await freshDatabase(engine);
    try {
      await migrate(database.db.knex);
      const catalog = await indexesInCatalog(database.db);
      const names = [...catalog.keys()].sort();
      expect(names).toEqual([...expected().keys()].sort());
      for (const [name, def] of expected()) {
        const found = catalog.get(name);
        expect([name, found?.columns]).toEqual([name, def.columns]);
        // The catalogs spell a predicate their own way: compare what it names.
        expect([name, found?.partial === null]).toEqual([name, def.partial === null]);
        if (def.partial) expect(found?.partial?.toLowerCase()).toContain(def.partial.toLowerCase());
      }
    } finally {
      await database.drop();
    }
  });
});

describe.each(engines())('searching while a bulk load has the query indexes away (%s)', (engine) => {
  let t: TestApp;
  const patient = (id: string, family: string, npi: string) => ({
    resourceType: 'Patient',
    id,
    identifier: [{ system: 'http://example.org/mrn', value: npi }],
    name: [{ family, given: ['Ada'] }],
    birthDate: '1970-05-01',
  });
  const observation = (id: string, subject: string, code: string, when: string, value: number) => ({
    resourceType: 'Observation',
    id,
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code }] },
    subject: { reference: subject },
    effectiveDateTime: when,
    valueQuantity: { value, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
  });
  const searches = [
    'Patient?name=lovel',
    'Patient?identifier=http://example.org/mrn|m-2',
    'Patient?birthdate=1970-05-01',
    'Observation?subject=Patient/p1&code=http://loinc.org|29463-7',
    'Observation?date=ge2020-01-01&date=lt2020-02-01',
    'Observation?value-quantity=gt70|http://unitsofmeasure.org|kg',
    'Observation?subject:Patient.name=byron',
    'Patient?_id=p1&_revinclude=Provenance:target',
  ];
  /** The ids each search answers, in order. */
  const answers = async (): Promise<string[][]> => {
    const out: string[][] = [];
    for (const s of searches) {
      const res = await fhirFetch(t, s);
      expect([s, res.status]).toEqual([s, 200]);
      out.push((res.body.entry ?? []).map((e: { resource: { resourceType: string; id: string } }) => `${e.resource.resourceType}/${e.resource.id}`));
    }
    return out;
  };

  beforeAll(async () => {
    t = await startTestApp(engine, { KILN_SAMPLE_DATA: 'false' });
    const writes = [
      patient('p1', 'Lovelace', 'm-1'),
      patient('p2', 'Byron', 'm-2'),
      observation('o1', 'Patient/p1', '29463-7', '2020-01-15T10:00:00Z', 72),
      observation('o2', 'Patient/p1', '8867-4', '2020-03-01', 60),
      observation('o3', 'Patient/p2', '29463-7', '2020-01-20', 81),
    ];
    for (const r of writes) expect((await fhirFetch(t, `${r.resourceType}/${r.id}`, { method: 'PUT', body: r })).status).toBe(201);
  });
  afterAll(async () => {
    await t.stop();
  });

  it('answers every kind of search the same, and the indexes come back whole', async () => {
    const withIndexes = await answers();
    expect(withIndexes.flat().length).toBeGreaterThan(searches.length);
    const db = t.database.db;
    const deferral = await deferQueryIndexes(db, 100);
    // PostgreSQL keeps its indexes: nothing is left out there.
    expect(deferral !== undefined).toBe(engine === 'sqlite');
    const during = await indexesInCatalog(db);
    if (engine === 'sqlite') {
      expect([...during.keys()]).toEqual([IDENTIFIER_INDEX.name]);
    } else {
      expect([...during.keys()].sort()).toEqual([...expected().keys()].sort());
    }
    expect(await answers()).toEqual(withIndexes);
    expect(deferral ? await deferral.end() : []).toEqual(engine === 'sqlite' ? queryIndexes().map((i) => i.name) : []);
    expect([...(await indexesInCatalog(db)).keys()].sort()).toEqual([...expected().keys()].sort());
    expect(await db.knex(DEFERRAL_TABLE).count({ n: '*' })).toEqual([{ n: engine === 'sqlite' ? 0 : '0' }]);
    if (engine === 'sqlite') {
      // The builds sorted in temporary files; the connection keeps its own setting (in memory, 2) after.
      expect(await db.knex.raw('pragma temp_store')).toEqual([{ temp_store: 2 }]);
      // The planner's statistics of each rebuilt index that has rows (DROP INDEX took them away).
      const stats: { idx: string }[] = await db.knex('sqlite_stat1').select('idx');
      expect(stats.map((r) => r.idx)).toEqual(expect.arrayContaining(['search_token_lookup', 'search_string_lookup', 'search_reference_target', 'search_date_lookup', 'search_quantity_lookup']));
    }
    expect(await answers()).toEqual(withIndexes);
    // Nothing is missing now: a second restore builds nothing.
    expect(await restoreQueryIndexes(db)).toEqual([]);
  });

  it('leaves them in place for a load smaller than what is stored', async () => {
    const db = t.database.db;
    const [{ n }] = await db.knex('resources').count({ n: '*' });
    expect(await deferQueryIndexes(db, Number(n) - 1)).toBeUndefined();
    expect([...(await indexesInCatalog(db)).keys()].sort()).toEqual([...expected().keys()].sort());
  });

  it('looks identifiers up through an index, with the query indexes away or not', async () => {
    const db = t.database.db;
    const plan = async () => {
      const { sql, bindings } = identifierQuery(db.knex, { type: 'Patient', system: 'http://example.org/mrn', value: 'm-2' }).toSQL();
      const rows: { detail: string }[] = await db.knex.raw(`explain query plan ${sql}`, bindings);
      return rows.map((r) => r.detail).join('\n');
    };
    const ids = async () => ((await identifierQuery(db.knex, { type: 'Patient', system: 'http://example.org/mrn', value: 'm-2' })) as { id: string }[]).map((r) => r.id);
    if (engine !== 'sqlite') {
      // PostgreSQL never has them away (its plans follow its statistics, not asserted here).
      expect(await ids()).toEqual(['p2']);
      return;
    }
    expect(await plan()).toMatch(/search_token_lookup/);
    expect(await ids()).toEqual(['p2']);
    const deferral = await deferQueryIndexes(db, 100);
    expect(deferral).toBeDefined();
    try {
      expect(await plan()).toMatch(new RegExp(IDENTIFIER_INDEX.name));
      expect(await ids()).toEqual(['p2']);
    } finally {
      await deferral?.end();
    }
    expect(await plan()).not.toMatch(new RegExp(IDENTIFIER_INDEX.name));
  });
});

describe('a bulk load that has the query indexes away (sqlite)', () => {
  let t: TestApp;
  const names = async () => [...(await indexesInCatalog(t.database.db)).keys()].sort();

  beforeAll(async () => {
    t = await startTestApp('sqlite', { KILN_SAMPLE_DATA: 'false' });
  });
  afterAll(async () => {
    await t.stop();
  });

  it('is live while its row has not lapsed and its process exists on this host', async () => {
    const soon = new Date(Date.now() + 60_000).toISOString();
    const here = hostname();
    expect(isLive({ owner: 'a', pid: process.pid, host: here, until: soon })).toBe(true);
    expect(isLive({ owner: 'b', pid: process.pid, host: here, until: new Date(Date.now() - 1).toISOString() })).toBe(false);
    // A process that has exited.
    const gone = spawnSync(process.execPath, ['-e', '0']).pid as number;
    expect(isLive({ owner: 'c', pid: gone, host: here, until: soon })).toBe(false);
    // On another host its process cannot be asked: the row alone decides.
    expect(isLive({ owner: 'd', pid: gone, host: `not-${here}`, until: soon })).toBe(true);
  });

  it('has the indexes left to it by a process that opens the database, which builds them once the load is gone', async () => {
    const db = t.database.db;
    const deferral = await deferQueryIndexes(db, 100);
    expect(deferral).toBeDefined();
    let other: Core | undefined;
    try {
      expect(await names()).toEqual([IDENTIFIER_INDEX.name]);
      // Another process opens the database (its own connection): the load in this one is live.
      other = await openCore(loadConfig({ DATABASE_URL: t.database.url, KILN_LOG_LEVEL: 'silent' }));
      expect(await names()).toEqual([IDENTIFIER_INDEX.name]);
      // The load stops renewing its row (as a load on another host that died would): once the
      // row lapses, the process that left the indexes to it builds them.
      await db.knex(DEFERRAL_TABLE).update({ until: new Date(Date.now() + 500).toISOString() });
      await other.close();
      other = await openCore(loadConfig({ DATABASE_URL: t.database.url, KILN_LOG_LEVEL: 'silent' }));
      const deadline = Date.now() + 15_000;
      while ((await names()).length === 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      expect(await names()).toEqual([...expected().keys()].sort());
    } finally {
      await other?.close();
      // The load ends: nothing is left to build, and its row goes.
      expect(await deferral?.end()).toEqual([]);
    }
    expect(await db.knex(DEFERRAL_TABLE).count({ n: '*' })).toEqual([{ n: 0 }]);
  }, 30_000);

  it('has them built by a waiting process soon after the load\'s process on this host is gone, before its row lapses', async () => {
    const db = t.database.db;
    const deferral = await deferQueryIndexes(db, 100);
    expect(deferral).toBeDefined();
    // The load's row names a process of this host that then dies (as a killed import would).
    const loader = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => loader.once('exit', resolve));
    await db.knex(DEFERRAL_TABLE).update({ pid: loader.pid });
    const other = connect(t.database.url);
    let waiting: { stop(): void } | undefined;
    try {
      waiting = await restoreAtStart(other, createLogger('silent'), 200);
      expect(await names()).toEqual([IDENTIFIER_INDEX.name]);
      loader.kill('SIGKILL');
      await exited;
      // Its row still has most of a minute to run: the process id is what tells.
      const deadline = Date.now() + 15_000;
      while ((await names()).length === 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(await names()).toEqual([...expected().keys()].sort());
      expect(await db.knex(DEFERRAL_TABLE).count({ n: '*' })).toEqual([{ n: 0 }]);
    } finally {
      waiting?.stop();
      loader.kill('SIGKILL');
      await other.close();
      await deferral?.end();
    }
  }, 30_000);

  it('leaves the build to the last of two loads', async () => {
    const db = t.database.db;
    const first = await deferQueryIndexes(db, 100);
    // The second is smaller than what is stored, but finds the indexes away already.
    const second = await deferQueryIndexes(db, 0);
    expect(first).toBeDefined();
    expect(second).toBeDefined();
    expect(await first?.end()).toEqual([]);
    expect(await names()).toEqual([IDENTIFIER_INDEX.name]);
    expect(await second?.end()).toEqual(queryIndexes().map((i) => i.name));
    expect(await names()).toEqual([...expected().keys()].sort());
  });
});
