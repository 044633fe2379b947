import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import BetterSqlite3 from 'better-sqlite3';
import type { Engine } from '../../server/db/connect.js';
import { getSearchParam } from '../../server/search/registry.js';
import { reindex } from '../../server/search/reindex.js';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { engines, freshDatabase, type TestDatabase } from '../helpers/db.js';
import { runKiln } from '../helpers/kiln.js';
import { ids, putAll, searchBundle } from './query-fixtures.js';
import { CHANGED_DEFINITIONS, DATA, definitionsFile, eventually, LATE } from './reindex-fixtures.js';

/**
 * A change of search parameter definitions on a database with data: the parameters it
 * touches are refused (or, leniently, left out) and missing from /metadata until
 * `kiln reindex` has rebuilt their rows, then answered from the whole index.
 */

const LENIENT = { prefer: 'handling=lenient' };

type Row = { resource_type: string; code: string; state: string; cursor_id: string | null };

async function status(database: TestDatabase, type: string, code: string): Promise<Row | undefined> {
  return (await database.db.knex('search_param_status').where({ resource_type: type, code }).first()) as Row | undefined;
}

async function patientParams(t: TestApp): Promise<{ names: string[]; includes: string[]; revIncludes: string[] }> {
  const res = await fhirFetch(t, 'metadata');
  const resources = res.body.rest[0].resource as { type: string; searchParam?: { name: string }[]; searchInclude?: string[]; searchRevInclude?: string[] }[];
  const patient = resources.find((r) => r.type === 'Patient')!;
  const organization = resources.find((r) => r.type === 'Organization')!;
  return { names: (patient.searchParam ?? []).map((p) => p.name), includes: patient.searchInclude ?? [], revIncludes: organization.searchRevInclude ?? [] };
}

/** The queries that use a waiting parameter somewhere, and the parameter the outcome names. */
const REFUSED: [string, string][] = [
  ['Patient?marital-status=M', 'marital-status'],
  ['Patient?marital-status:not=M', 'marital-status:not'],
  ['Patient?organization=Organization/o1', 'organization'],
  ['Patient?organization:missing=true', 'organization:missing'],
  ['Observation?subject:Patient.marital-status=M', 'subject:Patient.marital-status'],
  ['Observation?subject.organization=Organization/o1', 'subject.organization'],
  ['Organization?_has:Patient:organization:gender=female', '_has:Patient:organization:gender'],
  ['Observation?_has:Observation:has-member:subject:Patient.marital-status=M', '_has:Observation:has-member:subject:Patient.marital-status'],
  ['Patient?_sort=-marital-status', '_sort'],
  ['Patient?_include=Patient:organization', '_include'],
  ['Patient?_include=*', '_include'],
  ['Organization?_revinclude=Patient:organization', '_revinclude'],
  ['Organization?_revinclude=*', '_revinclude'],
  ['?_type=Patient&marital-status=M', 'marital-status'],
];

/** A new database holding DATA, written under the shipped definitions, and a server of it with the definitions of `file`. */
async function withChangedDefinitions(engine: Engine, file: string): Promise<{ database: TestDatabase; t: TestApp }> {
  const database = await freshDatabase(engine);
  const before = await startTestApp(engine, {}, { database });
  await putAll(before, DATA);
  await before.stop();
  return { database, t: await startTestApp(engine, { KILN_SEARCH_PARAMETERS: file }, { database }) };
}

describe.each(engines())('search parameters after a definition change (%s)', (engine) => {
  const file = definitionsFile(CHANGED_DEFINITIONS);
  let database: TestDatabase;
  let t: TestApp;

  beforeAll(async () => {
    ({ database, t } = await withChangedDefinitions(engine, file));
  });
  afterAll(async () => {
    await t?.stop();
    await database?.drop();
  });

  it('marks as waiting only the new and changed parameters of types that hold resources', async () => {
    expect((await status(database, 'Patient', 'marital-status'))?.state).toBe('backfilling');
    expect((await status(database, 'Patient', 'organization'))?.state).toBe('backfilling');
    expect((await status(database, 'Basic', 'custom-created'))?.state).toBe('ready');
    expect((await status(database, 'Patient', 'gender'))?.state).toBe('ready');
    expect((await status(database, 'Device', 'organization'))?.state).toBe('ready');
  });

  it.each(REFUSED)('refuses %s with a 400 naming the parameter', async (query, param) => {
    const res = await fhirFetch(t, query);
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    const [issue] = res.body.issue;
    expect(issue.code).toBe('not-supported');
    expect(issue.expression).toEqual([param]);
    expect(issue.diagnostics).toMatch(/index is being rebuilt.*Try again later.*handling=lenient/);
  });

  it('refuses a conditional create on a waiting parameter rather than trust half an index', async () => {
    const res = await fhirFetch(t, 'Patient', { method: 'POST', body: { resourceType: 'Patient' }, headers: { 'if-none-exist': 'marital-status=M' } });
    expect(res.status).toBe(400);
    expect(res.text).toContain('marital-status');
  });

  it('answers every other parameter, and a new parameter of a type without resources, at once', async () => {
    expect(await ids(t, 'Patient?gender=female')).toEqual(['p1', 'p3', 'p5']);
    expect(await ids(t, 'Basic?custom-created=2020')).toEqual([]);
    expect(await ids(t, 'Device?organization=Organization/o1')).toEqual([]);
  });

  it('under lenient handling leaves the waiting parameters out, with a warning, and out of the self link', async () => {
    const bundle = await searchBundle(t, 'Patient?marital-status=M&gender=female&_sort=marital-status&_include=Patient:organization', LENIENT);
    const entries = bundle.entry as { resource: { resourceType: string; id: string; issue?: { severity: string; diagnostics: string }[] }; search: { mode: string } }[];
    expect(entries.filter((e) => e.search.mode === 'match').map((e) => e.resource.id).sort()).toEqual(['p1', 'p3', 'p5']);
    expect(entries.filter((e) => e.search.mode === 'include')).toEqual([]);
    const outcome = entries.find((e) => e.search.mode === 'outcome')!.resource;
    expect(outcome.issue!.map((i) => i.severity)).toEqual(['warning', 'warning', 'warning']);
    expect(outcome.issue!.map((i) => i.diagnostics).join('\n')).toMatch(/marital-status[\s\S]*marital-status[\s\S]*organization/);
    const self = bundle.link.find((l) => l.relation === 'self')!.url;
    expect(self).toContain('gender=female');
    expect(self).not.toContain('marital-status');
    expect(self).not.toContain('_include');
  });

  it('leaves the waiting parameters out of the CapabilityStatement', async () => {
    const { names, includes, revIncludes } = await patientParams(t);
    expect(names).toEqual(expect.arrayContaining(['gender', 'general-practitioner']));
    expect(names).not.toContain('marital-status');
    expect(names).not.toContain('organization');
    expect(includes).not.toContain('Patient:organization');
    expect(revIncludes).not.toContain('Patient:organization');
    expect(revIncludes).toContain('Patient:general-practitioner');
  });

  it('indexes what is written meanwhile by the new definitions', async () => {
    await putAll(t, [LATE]);
    const knex = database.db.knex;
    const p6 = knex('resources').select('rid').where({ resource_type: 'Patient', id: 'p6' });
    const token = await knex('search_token').whereIn('rid', p6).where({ code: 'marital-status' }).first();
    expect(token?.value).toBe('M');
    const reference = await knex('search_reference').whereIn('rid', p6).where({ code: 'organization' }).first();
    expect(reference?.target_id).toBe('o2');
  });

  it('resumes a stopped reindex where it stopped, then answers from the whole index', async () => {
    const first = await reindex(t.app.db, { batchSize: 2, maxBatches: 1 });
    expect(first.resources).toBe(2);
    expect(first.ready).toEqual([]);
    expect(first.pending).toEqual(['Patient.marital-status', 'Patient.organization']);
    expect((await status(database, 'Patient', 'marital-status'))?.cursor_id).toBe('p2');
    expect((await fhirFetch(t, 'Patient?marital-status=M')).status).toBe(400);

    const rest = await reindex(t.app.db, { batchSize: 2 });
    expect(rest.resources).toBe(4);
    expect(rest.ready).toEqual(['Patient.marital-status', 'Patient.organization']);
    expect(rest.pending).toEqual([]);
    await eventually(async () => (await fhirFetch(t, 'Patient?marital-status=M')).status === 200);

    expect(await ids(t, 'Patient?marital-status=M')).toEqual(['p1', 'p3', 'p4', 'p6']);
    expect(await ids(t, 'Patient?organization=Organization/o2')).toEqual(['p3', 'p6']);
    expect(await ids(t, 'Patient?organization=Organization/o1')).toEqual(['p1', 'p2']);
    expect(await ids(t, 'Observation?subject:Patient.marital-status=M')).toEqual(['obs1', 'obs3']);
    expect(await ids(t, 'Organization?_has:Patient:organization:gender=male')).toEqual(['o1', 'o2']);
    const withIncludes = await searchBundle(t, 'Patient?_id=p3&_include=Patient:organization', LENIENT);
    expect((withIncludes.entry as { search: { mode: string } }[]).map((e) => e.search.mode)).toEqual(['match', 'include']);
    const { names, revIncludes } = await patientParams(t);
    expect(names).toEqual(expect.arrayContaining(['marital-status', 'organization']));
    expect(revIncludes).toContain('Patient:organization');
  });

  it('kiln reindex --all rebuilds from another process, and the server follows its progress', async () => {
    const run = (...args: string[]) => runKiln(['reindex', ...args], { env: { DATABASE_URL: database.url, KILN_SEARCH_PARAMETERS: file } });
    const started = await run('--all', '--type', 'Patient', '--batch-size', '4', '--max-batches', '1');
    expect(started.stderr).toBe('');
    expect(started.code).toBe(0);
    expect(started.stdout).toMatch(/^reindexed 4 resources of 0 types in [\d.]+ s \(\d+\/s\); 0 search parameters ready; \d+ still waiting \(run kiln reindex again to go on\)\n$/);
    expect((await run('--status')).stdout).toContain('Patient.gender waits since');
    await eventually(async () => (await fhirFetch(t, 'Patient?gender=female')).status === 400);
    expect(await ids(t, 'Observation?status=final')).toEqual(['obs1', 'obs3']);
    const compartment = await fhirFetch(t, 'Patient/p1/Patient', { headers: LENIENT });
    expect(compartment.status).toBe(400);
    expect(compartment.text).toContain('Patient compartment search of Patient: the search parameter \\"link\\"');

    const finished = await run();
    expect(finished.code).toBe(0);
    expect(finished.stdout).toMatch(/^reindexed 2 resources of 1 types in [\d.]+ s \(\d+\/s\); \d+ search parameters ready\n$/);
    expect((await run('--status')).stdout).toBe('every search parameter is ready\n');
    await eventually(async () => (await fhirFetch(t, 'Patient?gender=female')).status === 200);
    expect(await ids(t, 'Patient?gender=female')).toEqual(['p1', 'p3', 'p5']);
    expect(await ids(t, 'Patient?marital-status=M')).toEqual(['p1', 'p3', 'p4', 'p6']);
    expect((await run('--type', 'Nothing')).code).toBe(2);
  });
});

describe.each(engines())('a reindex asked to stop meanwhile (%s)', (engine) => {
  let database: TestDatabase;
  let t: TestApp;
  beforeAll(async () => {
    ({ database, t } = await withChangedDefinitions(engine, definitionsFile(CHANGED_DEFINITIONS)));
  });
  afterAll(async () => {
    await t?.stop();
    await database?.drop();
  });

  // `kiln reindex` sets the flag from its SIGINT handler, which runs only when the event
  // loop turns; on SQLite every statement is synchronous, so the loop gives it turns.
  it('stops after the batch in flight when a handler run by the event loop asks it to', async () => {
    let stop = false;
    setTimeout(() => (stop = true), 0);
    const stopped = await reindex(t.app.db, { batchSize: 1, stopRequested: () => stop });
    const patients = DATA.filter((r) => r.resourceType === 'Patient').length;
    // One resource a batch: it stopped within a turn or two of the loop, not at the end.
    expect(stopped.pending).toEqual(['Patient.marital-status', 'Patient.organization']);
    expect(stopped.resources).toBeLessThan(patients);
    const rest = await reindex(t.app.db, { batchSize: 1 });
    expect(stopped.resources + rest.resources).toBe(patients);
    expect(rest.pending).toEqual([]);
  });
});

describe('a database that meets the status table for the first time', () => {
  const file = definitionsFile(CHANGED_DEFINITIONS);

  it('is searchable at once when new, custom parameters included', async () => {
    const t = await startTestApp('sqlite', { KILN_SEARCH_PARAMETERS: file });
    try {
      await putAll(t, DATA);
      expect(await ids(t, 'Patient?marital-status=M')).toEqual(['p1', 'p3', 'p4']);
      expect(await ids(t, 'Patient?organization=Organization/o2')).toEqual(['p3']);
    } finally {
      await t.stop();
    }
  });

  it('records the definitions an existing index was built by as ready, all but composites, which had no rows then', async () => {
    const database = await freshDatabase('sqlite');
    try {
      const before = await startTestApp('sqlite', {}, { database });
      await putAll(before, DATA);
      await before.stop();
      // As on a database indexed before the table existed.
      await database.db.knex('search_param_status').delete();
      const t = await startTestApp('sqlite', {}, { database });
      const waiting = (await database.db.knex('search_param_status').whereNot('state', 'ready').select('resource_type', 'code')) as { resource_type: string; code: string }[];
      expect(waiting.length).toBeGreaterThan(0);
      for (const w of waiting) {
        expect(['Observation', 'Patient', 'Organization', 'Provenance', 'Device']).toContain(w.resource_type);
        expect(getSearchParam(w.resource_type, w.code)?.type).toBe('composite');
      }
      expect(await ids(t, 'Patient?organization=Organization/o1')).toEqual(['p1', 'p2']);
      await reindex(t.app.db);
      expect(await database.db.knex('search_param_status').whereNot('state', 'ready').count({ n: '*' })).toEqual([{ n: 0 }]);
      await t.stop();
    } finally {
      await database.drop();
    }
  });
});

describe('kiln reindex stopped with Ctrl-C (sqlite)', () => {
  it('finishes the batch in flight, says so, exits 130, and a second run goes on from there', async () => {
    const database = await freshDatabase('sqlite');
    await database.db.close();
    const env = { DATABASE_URL: database.url };
    const peek = (): BetterSqlite3.Database => new BetterSqlite3(database.url.slice('sqlite:'.length), { readonly: true });
    try {
      expect((await runKiln(['seed', '--patients', '3', '--seed', '5'], { env })).code).toBe(0);
      let signal: ((s: NodeJS.Signals) => void) | undefined;
      const running = runKiln(['reindex', '--all', '--type', 'Observation', '--batch-size', '1'], { env, started: (kill) => (signal = kill) });
      // Once a batch has been recorded: the rebuild is under way, one Observation a batch.
      const db = peek();
      try {
        const cursor = db.prepare("select count(*) as n from search_param_status where resource_type = 'Observation' and cursor_id is not null");
        const deadline = Date.now() + 30_000;
        while (Date.now() < deadline && (cursor.get() as { n: number }).n === 0) await new Promise((r) => setTimeout(r, 10));
      } finally {
        db.close();
      }
      signal?.('SIGINT');
      const run = await running;
      if (run.code !== 130) throw new Error(`kiln reindex exited with ${run.code ?? run.signal} after SIGINT; stdout: ${run.stdout} stderr: ${run.stderr}`);
      expect(run.stderr).toContain('kiln reindex: SIGINT: stopping after the batch being written; SIGINT again stops at once');
      expect(run.stdout).toMatch(/^reindexed \d+ resources of 0 types in [\d.]+ s \(\d+\/s\); 0 search parameters ready; \d+ still waiting \(run kiln reindex again to go on\)\n$/);
      const done = Number(/^reindexed (\d+)/.exec(run.stdout)![1]);

      const rest = await runKiln(['reindex'], { env });
      expect(rest.code).toBe(0);
      const observations = (() => {
        const d = peek();
        try {
          return (d.prepare("select count(*) as n from resources where resource_type = 'Observation'").get() as { n: number }).n;
        } finally {
          d.close();
        }
      })();
      // The second run did exactly what the first left.
      expect(rest.stdout).toMatch(new RegExp(`^reindexed ${observations - done} resources of 1 types in [\\d.]+ s \\(\\d+/s\\); \\d+ search parameters ready\\n$`));
      expect((await runKiln(['reindex', '--status'], { env })).stdout).toBe('every search parameter is ready\n');
    } finally {
      await database.drop();
    }
  }, 90_000);
});
