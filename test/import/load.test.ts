import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { connect } from '../../server/db/connect.js';
import { listImportFiles } from '../../server/import/files.js';
import { DEFAULT_NDJSON_CHUNK, importFiles } from '../../server/import/importer.js';
import { startPreparing } from '../../server/import/pipeline.js';
import { IDENTIFIER_INDEX } from '../../server/search/deferred-indexes.js';
import { queryIndexes } from '../../server/search/schema.js';
import { validateResource } from '../../server/validate/index.js';
import { engines } from '../helpers/db.js';
import { bundle, encounter, FileSet, harness, NPI, observation, patient, practitioner, uuid, uuidEntry, type ImportHarness } from './fixtures.js';

/**
 * What `kiln import` stores: ids kept, no duplicates on a re-run, one Provenance per file,
 * NDJSON per chunk, compressed files, entries that are no loads, and files sharing a
 * transaction reported only once it has committed.
 */
describe.each(engines())('kiln import loading (%s)', (engine) => {
  let h: ImportHarness;
  let files: FileSet;

  beforeEach(async () => {
    h = await harness(engine);
    files = new FileSet();
  });
  afterEach(async () => {
    await h.close();
    files.remove();
  });

  it('a re-run adds no versions, no resources and no Provenance', async () => {
    const [p, o] = [uuid(), uuid()];
    files.json('a.json', bundle([uuidEntry('Patient', p, patient('Again')), uuidEntry('Observation', o, observation(`urn:uuid:${p}`))]));
    files.ndjson('b.ndjson', [{ resourceType: 'Patient', id: 'nd-1', ...patient('Nd') }]);
    const first = await h.run([files.dir]);
    expect(first).toMatchObject({ resources: 3, written: 3, failed: [] });
    const versions = await h.versions();
    const second = await h.run([files.dir]);
    expect(second).toMatchObject({ resources: 3, written: 0, failed: [] });
    expect(await h.versions()).toBe(versions);
    expect(await h.count('Patient')).toBe(2);
  });

  it('stores a resource met in several files once; the last copy decides, a re-run writes nothing', async () => {
    const [org, p1, p2] = [uuid(), uuid(), uuid()];
    const orgIn = (extra: Record<string, unknown>) => uuidEntry('Organization', org, { name: 'Shared', ...extra });
    files.json('A.json', bundle([orgIn({}), uuidEntry('Patient', p1, { ...patient('A'), managingOrganization: { reference: `urn:uuid:${org}` } })]));
    files.json('B.json', bundle([orgIn({}), uuidEntry('Patient', p2, { ...patient('B'), managingOrganization: { reference: `urn:uuid:${org}` } })]));
    files.json('info.json', bundle([orgIn({ alias: ['Richer copy'] })]));
    expect((await h.run([files.dir])).failed).toEqual([]);
    expect(await h.count('Organization')).toBe(1);
    expect((await h.read('Organization', org))?.alias).toEqual(['Richer copy']);
    const versions = await h.versions();
    expect((await h.run([files.dir])).written).toBe(0);
    expect(await h.versions()).toBe(versions);
  });

  it('records one Provenance per file naming every resource it wrote; none when turned off', async () => {
    const [p, o, q] = [uuid(), uuid(), uuid()];
    files.json('one.json', bundle([uuidEntry('Patient', p, patient('Prov')), uuidEntry('Observation', o, observation(`urn:uuid:${p}`))]));
    files.json('two.json.gz', bundle([uuidEntry('Patient', q, patient('Gz'))]));
    await h.run([files.dir]);
    const rows = await h.database.db.knex('resources').where({ resource_type: 'Provenance' }).select('content');
    const provenances = rows.map((r: { content: string }) => JSON.parse(r.content));
    const byFile = new Map(provenances.map((pr) => [pr.entity[0].what.display as string, pr.target.map((t: { reference: string }) => t.reference).sort()]));
    expect(byFile).toEqual(
      new Map([
        ['kiln import of one.json', [`Observation/${o}/_history/1`, `Patient/${p}/_history/1`].sort()],
        ['kiln import of two.json.gz', [`Patient/${q}/_history/1`]],
      ]),
    );
    expect(provenances[0].agent[0].who.reference).toBe('Device/kiln-server');

    const r = uuid();
    await h.run([files.json('three.json', bundle([uuidEntry('Patient', r, patient('NoProv'))]))], { autoProvenance: false });
    expect(await h.read('Patient', r)).toBeDefined();
    expect(await h.count('Provenance')).toBe(2);
  });

  it('records a valid Provenance of its own, whatever the file is called', async () => {
    const p = uuid();
    files.json('odd name \u00e9 \u0007.json', bundle([uuidEntry('Patient', p, patient('Odd'))]));
    expect((await h.run([files.dir])).failed).toEqual([]);
    const [row] = await h.database.db.knex('resources').where({ resource_type: 'Provenance' }).select('content');
    const provenance = JSON.parse(row.content);
    // The bell is no character a FHIR string may hold: it stands as U+FFFD.
    expect(provenance.entity[0].what.display).toBe('kiln import of odd name \u00e9 \uFFFD.json');
    // Not validated when written (the server made it): it must be valid all the same.
    expect(() => validateResource(provenance, { expectedType: 'Provenance' })).not.toThrow();
  });

  it('builds the query indexes after a load at least as large as what is stored; keeps them otherwise or when told to', async () => {
    const knex = h.database.db.knex;
    const lookups = queryIndexes().map((i) => i.name);
    // What the catalog holds at each commit, read on a connection of its own (SQLite: synchronously, within the import).
    const seen: string[][] = [];
    const peek = engine === 'sqlite' ? new BetterSqlite3(h.database.url.slice('sqlite:'.length), { readonly: true }) : undefined;
    const onCommitted = () => {
      if (peek) seen.push((peek.prepare("select name from sqlite_master where type = 'index'").all() as { name: string }[]).map((r) => r.name));
    };
    const names = async (): Promise<string[]> =>
      engine === 'sqlite'
        ? (await knex('sqlite_master').where('type', 'index').select('name')).map((r: { name: string }) => r.name)
        : ((await knex.raw('select indexname as name from pg_indexes where schemaname = current_schema()')) as { rows: { name: string }[] }).rows.map((r) => r.name);
    try {
      const [doc, p, enc] = [uuid(), uuid(), uuid()];
      files.json('a/doc.json', bundle([uuidEntry('Practitioner', doc, practitioner('5550001'))]));
      expect((await h.run([files.path('a')], { onCommitted })).failed).toEqual([]);
      // A bigger load whose reference to the stored Practitioner resolves by identifier meanwhile.
      const visits = [uuidEntry('Patient', p, patient('Big')), uuidEntry('Encounter', enc, encounter(`urn:uuid:${p}`, `Practitioner?identifier=${NPI}|5550001`))];
      for (let i = 0; i < 4; i++) visits.push(uuidEntry('Patient', uuid(), patient(`More${i}`)));
      files.json('b/visits.json', bundle(visits));
      expect((await h.run([files.path('b')], { onCommitted })).failed).toEqual([]);
      expect((await h.read('Encounter', enc))?.participant[0].individual.reference).toBe(`Practitioner/${doc}`);
      // Smaller than what is stored now, and large but told to keep them.
      files.json('c/one.json', bundle([uuidEntry('Patient', uuid(), patient('Small'))]));
      expect((await h.run([files.path('c')], { onCommitted })).failed).toEqual([]);
      const many = Array.from({ length: 30 }, () => uuidEntry('Patient', uuid(), patient('Kept')));
      files.json('d/many.json', bundle(many));
      expect((await h.run([files.path('d')], { onCommitted, deferIndexes: false })).failed).toEqual([]);

      // After every load, all of them and no identifier index.
      expect(await names()).toEqual(expect.arrayContaining(lookups));
      expect(await names()).not.toContain(IDENTIFIER_INDEX.name);
      if (peek) {
        const away = (at: string[]) => lookups.every((n) => !at.includes(n)) && at.includes(IDENTIFIER_INDEX.name);
        const kept = (at: string[]) => lookups.every((n) => at.includes(n)) && !at.includes(IDENTIFIER_INDEX.name);
        // 1 Practitioner onto the server's Device, 6 onto 3 stored: away; then 1 onto 10, and 30 kept by request.
        expect(seen.map((at) => (away(at) ? 'away' : kept(at) ? 'kept' : 'other'))).toEqual(['away', 'away', 'kept', 'kept']);
      }
    } finally {
      peek?.close();
    }
  });

  it('uses a preparing thread its caller started, and refuses one started for other files', async () => {
    const [p, q] = [uuid(), uuid()];
    files.json('one.json', bundle([uuidEntry('Patient', p, patient('Early'))]));
    const list = await listImportFiles([files.dir]);
    const early = startPreparing(h.app.db.location, list, { ndjsonChunk: DEFAULT_NDJSON_CHUNK });
    expect((await importFiles(h.app, list, { autoProvenance: false, preparing: early })).failed).toEqual([]);
    expect(await h.read('Patient', p)).toBeDefined();
    files.json('two.json', bundle([uuidEntry('Patient', q, patient('Late'))]));
    const wrong = startPreparing(h.app.db.location, list, { ndjsonChunk: DEFAULT_NDJSON_CHUNK });
    await expect(importFiles(h.app, await listImportFiles([files.dir]), { autoProvenance: false, preparing: wrong })).rejects.toThrow(/other files/);
    expect(await h.read('Patient', q)).toBeUndefined();
  });

  it('reads gzip-compressed Bundles and NDJSON', async () => {
    const p = uuid();
    files.json('x/p.json.gz', bundle([uuidEntry('Patient', p, patient('Gzip'))]));
    files.ndjson('x/o.ndjson.gz', [{ resourceType: 'Observation', id: 'gz-obs', ...observation(`Patient/${p}`) }]);
    const summary = await h.run([files.dir]);
    expect(summary).toMatchObject({ resources: 2, failed: [] });
    expect((await h.read('Observation', 'gz-obs'))?.subject.reference).toBe(`Patient/${p}`);
    expect(await h.read('Patient', p)).toBeDefined();
  });

  it('commits NDJSON per chunk: a bad line fails its chunk, earlier chunks stay', async () => {
    const good = [1, 2, 3, 4, 5].map((i) => ({ resourceType: 'Patient', id: `line-${i}`, ...patient(`L${i}`) }));
    files.ndjson('big.ndjson', good, ['{"resourceType": "Patient", "id": "broken"', JSON.stringify({ resourceType: 'Patient', id: 'after', ...patient('After') })]);
    const summary = await h.run([files.dir], { ndjsonChunk: 2 });
    expect(summary.failed).toHaveLength(1);
    expect(summary.failed[0]).toMatchObject({ resources: 4, failure: { entry: 'line 6' } });
    expect(summary.ndjsonChunk).toBe(2);
    expect(await h.count('Patient')).toBe(4);
    expect(await h.read('Patient', 'line-5')).toBeUndefined();
    expect(await h.count('Provenance')).toBe(2);
  });

  it('rejects a file with a DELETE entry as a whole', async () => {
    const p = uuid();
    files.json('del.json', bundle([uuidEntry('Patient', p, patient('Del')), { request: { method: 'DELETE', url: 'Patient/x' } } as never]));
    const summary = await h.run([files.dir]);
    expect(summary.failed[0].failure).toMatchObject({ entry: 'entry 1', path: 'Bundle.entry[1].request.method' });
    expect(summary.failed[0].failure?.message).toMatch(/DELETE is not a load/);
    expect(await h.read('Patient', p)).toBeUndefined();
  });

  it('keeps the id of PUT Type/id and of <base>/Type/id fullUrls; derives a stable id for other POSTs', async () => {
    files.json(
      'ids.json',
      bundle([
        { resource: { resourceType: 'Patient', ...patient('Put') }, request: { method: 'PUT', url: 'Patient/put-1' } },
        { fullUrl: 'http://example.org/fhir/Patient/abs-1', resource: { resourceType: 'Patient', ...patient('Abs') }, request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'Observation', ...observation('http://example.org/fhir/Patient/abs-1') }, request: { method: 'POST', url: 'Observation' } },
      ]),
    );
    await h.run([files.dir]);
    expect(await h.read('Patient', 'put-1')).toBeDefined();
    expect(await h.read('Patient', 'abs-1')).toBeDefined();
    const [obs] = await h.database.db.knex('resources').where({ resource_type: 'Observation' }).select('id', 'content');
    expect(JSON.parse(obs.content).subject.reference).toBe('Patient/abs-1');
    expect(obs.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect((await h.run([files.dir])).written).toBe(0);
    expect(await h.count('Observation')).toBe(1);
  });

  it('fails a file whose resource is invalid, naming the entry and the element', async () => {
    const p = uuid();
    const bad = files.json('invalid.json', bundle([uuidEntry('Patient', p, patient('Ok')), uuidEntry('Observation', uuid(), { ...observation(`urn:uuid:${p}`), status: 'not-a-status' })]));
    const summary = await h.run([files.dir]);
    expect(basename(summary.failed[0].file.path)).toBe(basename(bad));
    expect(summary.failed[0].failure?.entry).toBe('entry 1');
    expect(summary.failed[0].failure?.path).toMatch(/Observation\.status/);
    expect(await h.read('Patient', p)).toBeUndefined();
  });

  it('reports files only once they are visible to others, and a bad file in the middle leaves nothing', async () => {
    const ids: string[] = [];
    for (let f = 0; f < 5; f++) {
      const p = uuid();
      ids.push(p);
      const obs = f === 2 ? { ...observation(`urn:uuid:${p}`), status: 'not-a-status' } : observation(`urn:uuid:${p}`);
      files.json(`f${f}.json`, bundle([uuidEntry('Patient', p, patient(`G${f}`)), uuidEntry('Observation', uuid(), obs)]));
    }
    // The callback is synchronous; on SQLite another connection can look at once.
    const peek = engine === 'sqlite' ? new BetterSqlite3(h.database.url.slice('sqlite:'.length), { readonly: true }) : undefined;
    const reported: string[] = [];
    const visibleWhenReported: number[] = [];
    const summary = await h.run([files.dir], {
      commitResources: 1000,
      onCommitted: (file) => {
        reported.push(file.path.split('/').pop() as string);
        const row = peek?.prepare('select count(*) as n from resources where id in (' + ids.map(() => '?').join(',') + ')').get(...ids) as { n: number } | undefined;
        if (row) visibleWhenReported.push(row.n);
      },
    });
    peek?.close();
    expect(reported).toEqual(['f0.json', 'f1.json', 'f3.json', 'f4.json']);
    // All four files shared one transaction: each was reported once all of them were stored.
    if (engine === 'sqlite') expect(visibleWhenReported).toEqual([4, 4, 4, 4]);
    const other = connect(h.database.url);
    try {
      const stored = (await other.knex('resources').whereIn('id', ids).select('id')).map((r: { id: string }) => r.id);
      expect(new Set(stored)).toEqual(new Set([ids[0], ids[1], ids[3], ids[4]]));
    } finally {
      await other.close();
    }
    expect(summary.failed.map((f) => f.file.path.split('/').pop())).toEqual(['f2.json']);
    expect(summary.files.map((f) => f.resources)).toEqual([2, 2, 0, 2, 2]);
    expect(await h.count('Provenance')).toBe(4);
  });

  it('a file that fails while writing leaves nothing of itself; the files before and after it stay', async () => {
    // The database refuses one resource of the third file, after that file has written others.
    const knex = h.database.db.knex;
    if (engine === 'sqlite') {
      await knex.raw(`create trigger refuse_boom before insert on resources when new.id = 'boom' begin select raise(abort, 'boom refused'); end`);
    } else {
      await knex.raw(`create function refuse_boom() returns trigger language plpgsql as $$ begin if new.id = 'boom' then raise exception 'boom refused'; end if; return new; end $$`);
      await knex.raw('create trigger refuse_boom before insert on resources for each row execute function refuse_boom()');
    }
    const ids: string[][] = [];
    for (let f = 0; f < 5; f++) {
      const p = uuid();
      const o = uuid();
      ids.push([p, o]);
      const entries = [uuidEntry('Patient', p, patient(`W${f}`)), uuidEntry('Observation', o, observation(`urn:uuid:${p}`))];
      if (f === 2) entries.push({ resource: { resourceType: 'Patient', id: 'boom' }, request: { method: 'PUT', url: 'Patient/boom' } } as never);
      files.json(`w${f}.json`, bundle(entries));
    }
    const summary = await h.run([files.dir], { commitResources: 1000 });
    expect(summary.failed.map((f) => `${basename(f.file.path)}: ${f.failure?.message}`)).toEqual([expect.stringMatching(/^w2\.json: .*boom refused/)]);
    expect(summary.files.map((f) => f.resources)).toEqual([2, 2, 0, 2, 2]);
    const stored = new Set((await knex('resources').select('id')).map((r: { id: string }) => r.id));
    for (const [f, [p, o]] of ids.entries()) {
      expect([f, stored.has(p), stored.has(o)]).toEqual([f, f !== 2, f !== 2]);
    }
    // Nothing of the failed file anywhere: no history, no index rows, no Provenance.
    const [p2, o2] = ids[2];
    expect(await knex('resource_history').whereIn('id', [p2, o2]).count({ n: '*' })).toEqual([{ n: engine === 'sqlite' ? 0 : '0' }]);
    const indexed = await knex('search_reference').where({ target_type: 'Patient', target_id: p2 }).count({ n: '*' });
    expect(Number(indexed[0].n)).toBe(0);
    expect(await h.count('Provenance')).toBe(4);
  });

  it('fails a file that cannot be read, read ahead or not, and loads the files around it', async () => {
    const ids = [uuid(), uuid(), uuid()];
    files.json('r0.json', bundle([uuidEntry('Patient', ids[0], patient('R0'))]));
    writeFileSync(files.path('r1.json.gz'), 'this is not gzip');
    files.json('r2.json.gz', bundle([uuidEntry('Patient', ids[2], patient('R2'))]));
    writeFileSync(files.path('r3.json'), '{"resourceType": "Bundle", "type": "transaction", "entry": [');
    const summary = await h.run([files.dir]);
    expect(summary.failed.map((f) => basename(f.file.path))).toEqual(['r1.json.gz', 'r3.json']);
    expect(summary.failed[0].failure?.message).toMatch(/incorrect header check|gzip/i);
    expect(summary.files.map((f) => f.resources)).toEqual([1, 0, 1, 0]);
    expect(await h.read('Patient', ids[0])).toBeDefined();
    expect(await h.read('Patient', ids[2])).toBeDefined();
  });
});
