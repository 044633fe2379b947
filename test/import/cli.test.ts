import { basename } from 'node:path';
import { loadConfig } from '../../server/config.js';
import { openCore } from '../../server/core.js';
import { connect, type Database } from '../../server/db/connect.js';
import { DEFERRAL_TABLE, IDENTIFIER_INDEX } from '../../server/search/deferred-indexes.js';
import { queryIndexes } from '../../server/search/schema.js';
import { fhirFetch, startTestApp, TEST_SECRET_KEY, type TestApp } from '../helpers/app.js';
import { engines, freshDatabase, type TestDatabase } from '../helpers/db.js';
import { runKiln } from '../helpers/kiln.js';
import { CHANGED_DEFINITIONS, definitionsFile } from '../search/reindex-fixtures.js';
import { bundle, FileSet, observation, patient, uuid, uuidEntry } from './fixtures.js';

/**
 * `kiln import` as a separate process: next to a running server on the same database,
 * and killed with SIGKILL in the middle of an import.
 */

/**
 * Runs `kiln import ARGS` from the TypeScript sources, with stdout as lines; `onLine`
 * sees each as it comes and may kill the process.
 */
async function kilnImport(args: string[], env: Record<string, string>, onLine?: (line: string, kill: (signal?: NodeJS.Signals) => void) => void) {
  const run = await runKiln(['import', ...args], { env: { KILN_SECRET_KEY: TEST_SECRET_KEY, ...env }, onLine });
  return { ...run, stdout: run.stdout.split('\n').filter(Boolean) };
}

describe.each(engines())('kiln import command (%s)', (engine) => {
  let t: TestApp;
  let files: FileSet;

  beforeAll(async () => {
    t = await startTestApp(engine);
    files = new FileSet();
  });
  afterAll(async () => {
    await t.stop();
    files.remove();
  });

  it('loads next to a running server, prints the summary and failures, exits 1 when a file failed', async () => {
    const [p, o, missing] = [uuid(), uuid(), uuid()];
    files.json('good.json.gz', bundle([uuidEntry('Patient', p, patient('Cli')), uuidEntry('Observation', o, observation(`urn:uuid:${p}`))]));
    const bad = files.json('zz-bad.json', bundle([uuidEntry('Observation', uuid(), observation(`urn:uuid:${missing}`))]));
    const run = await kilnImport([files.dir], { DATABASE_URL: t.database.url });
    expect(run.code).toBe(1);
    expect(run.stdout).toEqual([expect.stringMatching(/^imported 2 resources from 1 files in \d+\.\d s \(\d+\/s\); 1 failed/)]);
    expect(run.stderr).toContain(`failed ${bad}: entry 0: Observation.subject.reference: urn:uuid:${missing}`);
    // The running server sees the committed data at once.
    const read = await fhirFetch(t, `Observation/${o}`);
    expect(read.status).toBe(200);
    expect(read.body.subject.reference).toBe(`Patient/${p}`);
  }, 60_000);

  it('exits 2 naming a path that does not exist', async () => {
    const run = await kilnImport([files.path('nowhere')], { DATABASE_URL: t.database.url });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('no such file or folder');
  }, 60_000);

  it('exits 2 for a --commit-size that is not a positive whole number', async () => {
    for (const bad of ['0', '-5', '1.5', 'many']) {
      const run = await kilnImport([`--commit-size=${bad}`, files.dir], { DATABASE_URL: t.database.url });
      expect([bad, run.code]).toEqual([bad, 2]);
      expect(run.stderr).toContain('--commit-size must be a whole number');
    }
  }, 60_000);
});

describe('kiln import with custom search parameters (sqlite)', () => {
  it('indexes what KILN_SEARCH_PARAMETERS defines, on the preparing thread too', async () => {
    const database = await freshDatabase('sqlite');
    await database.db.close();
    const files = new FileSet();
    try {
      const p = uuid();
      files.json('married.json', bundle([uuidEntry('Patient', p, { ...patient('Wed'), maritalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus', code: 'M' }] } })]));
      const run = await kilnImport([files.dir], { DATABASE_URL: database.url, KILN_SEARCH_PARAMETERS: definitionsFile(CHANGED_DEFINITIONS) });
      if (run.code !== 0) throw new Error(`kiln import exited with ${run.code}:\n${run.stderr}`);
      const db = connect(database.url);
      try {
        const rows = await db.knex('search_token as t').join('resources as r', 'r.rid', 't.rid').where({ 'r.id': p, 't.code': 'marital-status' }).select('t.system', 't.value');
        expect(rows).toEqual([{ system: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus', value: 'M' }]);
      } finally {
        await db.close();
      }
    } finally {
      files.remove();
      await database.drop();
    }
  }, 60_000);
});

describe('kiln import stopped part-way (sqlite)', () => {
  // Enough files (15,000 resources) that the import is still running when this process
  // has read its first lines and sent it a signal.
  const FILES = 100;
  const PER_FILE = 150;
  let database: TestDatabase | undefined;
  let files: FileSet;
  const idsOf = new Map<string, string[]>();

  /** A new empty database for each kill (the child process opens it by URL). */
  async function resetDatabase(): Promise<TestDatabase> {
    await database?.drop().catch(() => undefined);
    database = await freshDatabase('sqlite');
    await database.db.close();
    return database;
  }

  beforeAll(async () => {
    files = new FileSet();
    for (let f = 0; f < FILES; f++) {
      const p = uuid();
      const obs = Array.from({ length: PER_FILE }, () => uuid());
      const name = `file-${String(f).padStart(3, '0')}.json`;
      files.json(name, bundle([uuidEntry('Patient', p, patient(`Kill${f}`)), ...obs.map((o) => uuidEntry('Observation', o, observation(`urn:uuid:${p}`)))]));
      idsOf.set(name, [p, ...obs]);
    }
  });
  afterAll(async () => {
    files.remove();
    await database?.drop().catch(() => undefined);
  });

  /**
   * The files whose resources are all stored, after checking that every file is stored
   * whole or not at all, with one Provenance for each stored file.
   */
  async function completeFiles(db: Database): Promise<string[]> {
    const complete: string[] = [];
    for (const [name, ids] of idsOf) {
      const [{ n }] = await db.knex('resources').whereIn('id', ids).count({ n: '*' });
      expect([name, Number(n) === 0 || Number(n) === ids.length]).toEqual([name, true]);
      if (Number(n) === ids.length) complete.push(name);
    }
    const [{ n: provenances }] = await db.knex('resources').where({ resource_type: 'Provenance' }).count({ n: '*' });
    expect(Number(provenances)).toBe(complete.length);
    return complete;
  }
  const indexNames = async (db: Database) => (await db.knex('sqlite_master').where('type', 'index').select('name')).map((r: { name: string }) => r.name);
  /** Prints `committed FILE N resources` lines; `after` sees the count so far and may stop the import. */
  const importStopping = (extra: string[], after: (reported: string[], kill: (signal?: NodeJS.Signals) => void) => void) => {
    const reported: string[] = [];
    const run = kilnImport(['--verbose', ...extra, files.dir], { DATABASE_URL: (database as TestDatabase).url }, (line, kill) => {
      const m = /^committed (\S+) (\d+) resources$/.exec(line);
      if (m) reported.push(basename(m[1]));
      after(reported, kill);
    });
    return { reported, run };
  };

  // The default shares a transaction among ~30 of these files; 100 commits every file or so.
  it.each([['default commit size', []], ['--commit-size 100', ['--commit-size', '100']]])('loses nothing reported as committed and leaves no partial file when killed (%s)', async (_label, extra) => {
    await resetDatabase();
    const { reported, run: running } = importStopping(extra as string[], (r, kill) => r.length === 2 && kill());
    const run = await running;
    expect(run.signal).toBe('SIGKILL');
    expect(reported.length).toBeGreaterThanOrEqual(2);

    const db = connect((database as TestDatabase).url);
    try {
      const complete = await completeFiles(db);
      expect(complete).toEqual(expect.arrayContaining(reported));
      expect(complete.length).toBeLessThan(FILES);
      // The load into an empty database had the query indexes away (search/deferred-indexes.ts)...
      expect(await indexNames(db)).not.toEqual(expect.arrayContaining(['search_token_lookup']));
      expect(await indexNames(db)).toContain(IDENTIFIER_INDEX.name);
      // ...and said so, under the process id of a process that no longer exists...
      expect(await db.knex(DEFERRAL_TABLE).count({ n: '*' })).toEqual([{ n: 1 }]);
      // ...so the next process that opens the database builds them, and clears that row.
      const core = await openCore(loadConfig({ DATABASE_URL: (database as TestDatabase).url, KILN_LOG_LEVEL: 'silent' }), { db });
      await core.close();
      expect(await indexNames(db)).toEqual(expect.arrayContaining(queryIndexes().map((i) => i.name)));
      expect(await indexNames(db)).not.toContain(IDENTIFIER_INDEX.name);
      expect(await db.knex(DEFERRAL_TABLE).count({ n: '*' })).toEqual([{ n: 0 }]);
    } finally {
      await db.close();
    }
  }, 60_000);

  it('stops on Ctrl-C after the file being written, builds the indexes itself, and a re-run loads the rest', async () => {
    await resetDatabase();
    let sentAt: string | undefined;
    const { reported, run: running } = importStopping(['--commit-size', '100'], (r, kill) => {
      if (r.length === 1 && !sentAt) {
        sentAt = `${new Date().toISOString()} ${r[0]}`;
        kill('SIGINT');
      }
    });
    const run = await running;
    if (run.code !== 130) throw new Error(`kiln import exited with ${run.code ?? run.signal} after SIGINT at ${sentAt}, printing ${run.stdout.length} lines; stderr: ${run.stderr}`);
    expect(run.stderr).toContain('SIGINT: stopping after the file being written');
    expect(run.stdout.at(-1)).toMatch(/^imported \d+ resources from \d+ files .*; interrupted before the other files were read: run the same import again to load them$/);

    const db = connect((database as TestDatabase).url);
    try {
      const complete = await completeFiles(db);
      // Everything it reported, and nothing it did not: the last commit is reported too.
      expect(complete.sort()).toEqual([...reported].sort());
      expect(complete.length).toBeLessThan(FILES);
      // The indexes are whole again and the deferral is gone: nothing is left for another process.
      expect(await indexNames(db)).toEqual(expect.arrayContaining(queryIndexes().map((i) => i.name)));
      expect(await indexNames(db)).not.toContain(IDENTIFIER_INDEX.name);
      expect(await db.knex(DEFERRAL_TABLE).count({ n: '*' })).toEqual([{ n: 0 }]);

      const again = await kilnImport([files.dir], { DATABASE_URL: (database as TestDatabase).url });
      expect({ code: again.code, stderr: again.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
      expect((await completeFiles(db)).length).toBe(FILES);
    } finally {
      await db.close();
    }
  }, 60_000);
});
