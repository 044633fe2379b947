import { loadConfig } from '../../server/config.js';
import { openCore } from '../../server/core.js';
import { connect } from '../../server/db/connect.js';
import { importFiles } from '../../server/import/importer.js';
import { listImportFiles } from '../../server/import/files.js';
import { preparedUnits } from '../../server/import/pipeline.js';
import { ImportIndex, scanFiles } from '../../server/import/scan.js';
import { bindingWidth, indexBindings, setRowKeys } from '../../server/search/write.js';
import { emptyIndexRows } from '../../server/search/types.js';
import { bundle, FileSet, patient, uuid, uuidEntry } from './fixtures.js';

/**
 * The import's preparing thread (server/import/pipeline.ts): what crosses between the
 * threads, and how the thread starts and stops. What the import stores through it is
 * tested by the other suites of this folder, on both engines.
 */

describe('index rows prepared on another thread', () => {
  const rowsOf = (values: string[]) => {
    const rows = emptyIndexRows();
    rows.token = values.map((value) => ({ code: 'identifier', system: 'urn:s', value }));
    return rows;
  };
  const prepared = () =>
    indexBindings([
      { resourceType: 'Patient', rid: 0, rows: rowsOf(['a', 'b']) },
      { resourceType: 'Patient', rid: 1, rows: rowsOf(['c']) },
      { resourceType: 'Patient', rid: 2, rows: rowsOf(['d']) },
    ]);
  const width = bindingWidth('token');
  const column = (b: unknown[], c: number) => b.filter((_, i) => i % width === c);

  it('get the keys their resources were given, placeholder by placeholder', () => {
    const keyed = setRowKeys(prepared(), [70, 71, 72]);
    expect(column(keyed.token, 0)).toEqual([70, 70, 71, 72]);
    expect(column(keyed.token, 1)).toEqual(['Patient', 'Patient', 'Patient', 'Patient']);
    expect(keyed.token).toContain('c');
  });

  it('of a resource not written are dropped, also when the keys are a sparse array', () => {
    const keys = new Array<number | undefined>(3);
    keys[0] = 80;
    keys[2] = 82;
    const keyed = setRowKeys(prepared(), keys);
    expect(column(keyed.token, 0)).toEqual([80, 80, 82]);
    expect(keyed.token).not.toContain('c');
  });

  it('stay as prepared, so that a unit loaded a second time gets its new keys', () => {
    const b = prepared();
    const before = [...b.token];
    setRowKeys(b, [1, 2, 3]);
    expect(b.token).toEqual(before);
    expect(column(setRowKeys(b, [9, 8, 7]).token, 0)).toEqual([9, 9, 8, 7]);
  });
});

describe('the first pass, shared between the threads', () => {
  let files: FileSet;
  beforeEach(() => (files = new FileSet()));
  afterEach(() => files.remove());

  it('gives the same index in two parts, merged, as in one', async () => {
    const [p, o, shared, twice] = [uuid(), uuid(), uuid(), uuid()];
    const org = (name: string) => ({ resourceType: 'Organization', name, identifier: [{ system: 'urn:org', value: 'o-1' }] });
    files.json('a.json', bundle([uuidEntry('Patient', p, patient('A')), uuidEntry('Organization', o, org('first')), uuidEntry('Patient', twice, patient('Early'))]));
    // Another Organization with the same identifier, one fullUrl for two resources, a later copy.
    files.json('b.json', bundle([uuidEntry('Organization', uuid(), org('second')), uuidEntry('Patient', shared, patient('B')), uuidEntry('Patient', twice, patient('Late'))]));
    files.json('c.json', bundle([uuidEntry('Observation', shared, { resourceType: 'Observation', status: 'final', code: { text: 'x' } })]));
    const list = await listImportFiles([files.dir]);
    const whole = await scanFiles(list);
    for (let at = 0; at <= list.length; at++) {
      const later = await scanFiles(list.slice(at));
      later.merge((await scanFiles(list.slice(0, at))).data());
      expect(later.resources).toBe(whole.resources);
      expect(later.byIdentifier('Organization', 'urn:org', 'o-1').sort()).toEqual(whole.byIdentifier('Organization', 'urn:org', 'o-1').sort());
      expect(later.byIdentifier('Organization', 'urn:org', 'o-1')).toHaveLength(2);
      expect(later.target(`urn:uuid:${shared}`)).toBe('');
      expect(later.target(`urn:uuid:${p}`)).toBe(`Patient/${p}`);
      expect(later.byId(shared)).toBe('');
      expect(later.byId(o)).toBe(`Organization/${o}`);
      expect(later.data().lastSeen).toEqual(whole.data().lastSeen);
      expect(later.data().urls).toEqual(whole.data().urls);
      expect(later.data().ids).toEqual(whole.data().ids);
    }
  });
});

describe('the preparing thread', () => {
  let files: FileSet;
  beforeEach(() => (files = new FileSet()));
  afterEach(() => files.remove());

  it('is not started for an in-memory database, which it could not open: the import says why', async () => {
    const config = loadConfig({ DATABASE_URL: 'sqlite::memory:', KILN_SAMPLE_DATA: 'false' });
    const core = await openCore(config, { db: connect('sqlite::memory:') });
    try {
      files.json('a.json', bundle([uuidEntry('Patient', uuid(), patient('Memory'))]));
      await expect(importFiles(core, await listImportFiles([files.dir]), { autoProvenance: false })).rejects.toThrow(
        /needs a database file or PostgreSQL/,
      );
    } finally {
      await core.close();
      await core.db.close();
    }
  });

  it('prepares units in order, and reports a file it cannot load', async () => {
    const db = connect(`sqlite:${files.dir}/kiln.sqlite`);
    try {
      const [p1, p2] = [uuid(), uuid()];
      files.json('a.json', bundle([uuidEntry('Patient', p1, patient('First'))]));
      files.json('b.json', bundle([uuidEntry('Patient', p2, patient('Second'))]));
      files.json('c.json', { resourceType: 'Bundle', type: 'searchset' });
      const list = (await listImportFiles([files.dir])).filter((f) => f.path.endsWith('.json'));
      const seen: string[] = [];
      for await (const m of preparedUnits(db.location, list, { ndjsonChunk: 10 }, async () => new ImportIndex())) {
        seen.push(m.type === 'unit' ? `unit ${m.file}: ${m.unit.items.map((i) => i.version.id).join()}` : `${m.type} ${m.file}`);
        if (seen.length === 3) break;
      }
      expect(seen).toEqual([`unit 0: ${p1}`, 'file-done 0', `unit 1: ${p2}`]);
      // Each unit's resources are staged as version 1 of their own id, with their rows named by position.
      for await (const m of preparedUnits(db.location, list, { ndjsonChunk: 10 }, async () => new ImportIndex())) {
        if (m.type === 'failed') {
          expect(m).toMatchObject({ file: 2, failure: { reason: expect.stringContaining('searchset') } });
          return;
        }
        if (m.type === 'unit') {
          expect(m.unit.items[0].version).toMatchObject({ versionId: 1, resourceType: 'Patient', method: 'POST' });
          expect(JSON.parse(m.unit.items[0].version.content).meta).toEqual({ versionId: '1', lastUpdated: m.unit.now });
          expect(m.unit.bindings.string[0]).toBe(0);
        }
      }
      throw new Error('the searchset Bundle was not reported');
    } finally {
      await db.close();
    }
  });
});
