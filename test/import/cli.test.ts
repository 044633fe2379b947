import { spawn } from 'node:child_process';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import { connect } from '../../server/db/connect.js';
import { fhirFetch, startTestApp, TEST_SECRET_KEY, type TestApp } from '../helpers/app.js';
import { engines, freshDatabase, type TestDatabase } from '../helpers/db.js';
import { bundle, FileSet, observation, patient, uuid, uuidEntry } from './fixtures.js';

/**
 * `kiln import` as a separate process: next to a running server on the same database,
 * and killed with SIGKILL in the middle of an import.
 */

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string[];
  stderr: string;
}

/**
 * Runs `kiln import ARGS` from the TypeScript sources; `onLine` sees each stdout line as
 * it comes and may kill the process.
 */
function kilnImport(args: string[], env: Record<string, string>, onLine?: (line: string, kill: () => void) => void): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/bin.ts', 'import', ...args], {
    cwd: process.cwd(),
    env: { ...process.env, KILN_LOG_LEVEL: 'silent', KILN_SECRET_KEY: TEST_SECRET_KEY, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout }).on('line', (line) => {
    stdout.push(line);
    onLine?.(line, () => child.kill('SIGKILL'));
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
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

describe('kiln import killed with SIGKILL (sqlite)', () => {
  const FILES = 60;
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

  // The default shares a transaction among ~30 of these files; 100 commits every file or so.
  it.each([['default commit size', []], ['--commit-size 100', ['--commit-size', '100']]])('loses nothing reported as committed and leaves no partial file (%s)', async (_label, extra) => {
    const database = await resetDatabase();
    const reported: string[] = [];
    const run = await kilnImport(['--verbose', ...(extra as string[]), files.dir], { DATABASE_URL: database.url }, (line, kill) => {
      const m = /^committed (\S+) (\d+) resources$/.exec(line);
      if (m) reported.push(basename(m[1]));
      if (reported.length === 2) kill();
    });
    expect(run.signal).toBe('SIGKILL');
    expect(reported.length).toBeGreaterThanOrEqual(2);

    const db = connect(database.url);
    try {
      const complete: string[] = [];
      for (const [name, ids] of idsOf) {
        const [{ n }] = await db.knex('resources').whereIn('id', ids).count({ n: '*' });
        expect([name, Number(n) === 0 || Number(n) === ids.length]).toEqual([name, true]);
        if (Number(n) === ids.length) complete.push(name);
      }
      expect(complete).toEqual(expect.arrayContaining(reported));
      expect(complete.length).toBeLessThan(FILES);
      const [{ n: provenances }] = await db.knex('resources').where({ resource_type: 'Provenance' }).count({ n: '*' });
      expect(Number(provenances)).toBe(complete.length);
    } finally {
      await db.close();
    }
  }, 60_000);
});
