/**
 * Ingest benchmark: `kiln import` of the whole shared Synthea set (about 36,000
 * resources) into a fresh database, with full validation, search indexing and
 * Provenance. The headline is the command as a user runs it: the compiled
 * `bin/kiln.js import` in a process of its own, timed from start to exit, its memory
 * read from /proc (Linux) every 250 ms. A second import into another fresh database runs
 * in this process from the sources, to time each kind of SQL statement (knex's query
 * events; they and tsx slow it down, so its rate is not the headline). Two baselines
 * are measured in the same run:
 * - read + gunzip + JSON.parse of every file (the floor of any import);
 * - a raw better-sqlite3 insert of the same resources as JSON text, one transaction per
 *   file, without any FHIR work (what storage alone costs).
 *
 *   node --import tsx bench/ingest.ts [--engine sqlite|postgres] [--data DIR] [--commit-size N] [--runs N]
 *
 * `--commit-size` is `kiln import --commit-size` (resources per shared transaction; 1 commits every file).
 * `--runs` (default 3) repeats the command's import, each into a fresh database; the
 * headline is their median, since one run on a shared machine can be off by a tenth.
 *
 * PostgreSQL uses KILN_TEST_DATABASE_URL, in a schema of its
 * own that is dropped afterwards. Target: >= 10,000 resources/s on SQLite, memory flat.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import BetterSqlite3 from 'better-sqlite3';
import { openCore } from '../server/core.js';
import { loadConfig } from '../server/config.js';
import { bulkObserver } from '../server/db/bulk.js';
import type { Database } from '../server/db/connect.js';
import { freshDatabase } from '../test/helpers/db.js';
import { compiledServer, kilnEnv, threadCpu, THREAD_CPU_PRELOAD } from './lib.js';
import { importPaths } from '../server/import/importer.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MB = 1024 * 1024;

/** A fresh database (the test suites' helper) and how to name it in the report. */
async function freshFor(engine: string) {
  const fresh = await freshDatabase(engine === 'postgres' ? 'postgres' : 'sqlite');
  return { ...fresh, label: fresh.schema ? `postgres (schema ${fresh.schema})` : 'sqlite (WAL, file in tmpdir)' };
}

/**
 * Time per SQL statement kind (verb and table), from knex's query events: where the
 * database part of the import goes. COMMITs are not reported by knex and not included.
 */
function sqlTimer(db: Database): { stop(): { key: string; ms: number; n: number }[] } {
  const started = new Map<string, bigint>();
  const totals = new Map<string, { ms: number; n: number }>();
  const onQuery = (q: { __knexQueryUid: string }) => started.set(q.__knexQueryUid, process.hrtime.bigint());
  const add = (sql: string, ms: number) => {
    const m = /^\s*(insert into|delete from|update|select .*? from|pragma)\s*[`"]?(\w+)/is.exec(sql);
    const key = m ? `${m[1].split(' ')[0].toLowerCase()} ${m[2]}` : sql.slice(0, 30);
    const e = totals.get(key) ?? { ms: 0, n: 0 };
    e.ms += ms;
    e.n++;
    totals.set(key, e);
  };
  const onResponse = (_r: unknown, q: { __knexQueryUid: string; sql: string }) => {
    const t0 = started.get(q.__knexQueryUid);
    if (t0 === undefined) return;
    started.delete(q.__knexQueryUid);
    add(q.sql, Number(process.hrtime.bigint() - t0) / 1e6);
  };
  db.knex.on('query', onQuery).on('query-response', onResponse);
  // Bulk inserts on SQLite bypass knex (db/bulk.ts) and report here instead.
  bulkObserver.statement = add;
  return {
    stop: () => {
      bulkObserver.statement = undefined;
      db.knex.off('query', onQuery).off('query-response', onResponse);
      return [...totals].map(([key, v]) => ({ key, ...v })).sort((a, b) => b.ms - a.ms);
    },
  };
}

/** Peak and sampled resident memory of process `pid`, from /proc, until it exits. */
function procMemory(pid: number): { stop(): { peak: number; samples: number[] } } {
  const samples: number[] = [];
  let peak = 0;
  const read = () => {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
      peak = Math.max(peak, kb('VmHWM'));
      samples.push(kb('VmRSS'));
    } catch {
      // Exited between two samples.
    }
  };
  const timer = setInterval(read, 250);
  return { stop: () => (clearInterval(timer), { peak, samples }) };
}

/** `kiln import` as a user runs it: the compiled command in its own process, from start to exit. */
async function commandImport(engine: string, data: string, commitResources: number | undefined) {
  const fresh = await freshFor(engine);
  await fresh.db.close();
  const { script } = compiledServer();
  const args = ['--require', THREAD_CPU_PRELOAD, script, 'import', ...(commitResources === undefined ? [] : ['--commit-size', String(commitResources)]), data];
  const env = { ...process.env, ...kilnEnv(fresh.url), KILN_LOG_LEVEL: 'warn' };
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const memory = procMemory(child.pid as number);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const { peak, samples } = memory.stop();
  await fresh.drop();
  if (code !== 0) throw new Error(`kiln import exited with ${code}: ${out.slice(0, 500)}${err.slice(-1000)}`);
  // The summary line: "imported N resources from F files in S s (R/s); X failed; ...".
  const m = /imported (\d+) resources from (\d+) files.*?; (\d+) failed/.exec(out);
  if (!m) throw new Error(`no summary line in: ${out.slice(0, 500)}`);
  const threads = threadCpu(err);
  return { resources: Number(m[1]), files: Number(m[2]), failed: Number(m[3]), seconds, peak, samples, threads, label: fresh.label, line: out.trim().split('\n').pop() as string };
}

async function benchImport(engine: string, data: string, commitResources: number | undefined) {
  const fresh = await freshFor(engine);
  const config = loadConfig({ KILN_SECRET_KEY: 'kiln-bench-secret-key-material-0123456789', ...process.env, KILN_LOG_LEVEL: 'warn' });
  const app = await openCore(config, { db: fresh.db });
  const sql = sqlTimer(fresh.db);
  const started = process.hrtime.bigint();
  const summary = await importPaths(app, [data], { autoProvenance: config.autoProvenance, commitResources });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const statements = sql.stop();
  await app.close();
  await fresh.drop();
  return { summary, seconds, statements };
}

function files(data: string): string[] {
  return readdirSync(data)
    .filter((f) => f.endsWith('.json') || f.endsWith('.json.gz'))
    .sort()
    .map((f) => join(data, f));
}

function readBundle(path: string): { text: string; bundle: { entry: { resource: { resourceType: string; id: string } }[] } } {
  const raw = readFileSync(path);
  const text = (path.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
  return { text, bundle: JSON.parse(text) };
}

/** Baseline 1: read, gunzip and parse every file, nothing else. */
function benchParse(paths: string[]) {
  const started = process.hrtime.bigint();
  let resources = 0;
  let bytes = 0;
  for (const p of paths) {
    const { text, bundle } = readBundle(p);
    bytes += text.length;
    resources += bundle.entry.length;
  }
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, resources, bytes };
}

/** Baseline 2: the same JSON into one better-sqlite3 table, one transaction per file, no FHIR work. */
function benchRawSqlite(paths: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-raw-'));
  const db = new BetterSqlite3(join(dir, 'raw.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('create table resources (resource_type text not null, id text not null, content text not null, primary key (resource_type, id))');
  const insert = db.prepare('insert or replace into resources values (?, ?, ?)');
  const started = process.hrtime.bigint();
  let resources = 0;
  for (const p of paths) {
    const { bundle } = readBundle(p);
    db.transaction(() => {
      for (const { resource } of bundle.entry) insert.run(resource.resourceType, resource.id, JSON.stringify(resource));
    })();
    resources += bundle.entry.length;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  db.close();
  rmSync(dir, { recursive: true, force: true });
  return { seconds, resources };
}

const rate = (n: number, s: number) => `${Math.round(n / s).toLocaleString('en-US')}/s`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { engine: { type: 'string', default: 'sqlite' }, data: { type: 'string' }, 'commit-size': { type: 'string' }, runs: { type: 'string', default: '3' } },
  });
  const runs = Number(values.runs);
  if (!(Number.isInteger(runs) && runs >= 1)) throw new Error('--runs must be a whole number >= 1');
  const commitSize = values['commit-size'] === undefined ? undefined : Number(values['commit-size']);
  if (commitSize !== undefined && !(Number.isInteger(commitSize) && commitSize >= 1)) throw new Error('--commit-size must be a whole number >= 1');
  const engine = values.engine as string;
  if (engine !== 'sqlite' && engine !== 'postgres') throw new Error('--engine must be sqlite or postgres');
  const data = values.data ?? join(ROOT, '..', 'shared', 'data', 'synthea-r4');
  const paths = files(data);
  const gz = paths.reduce((n, p) => n + statSync(p).size, 0);

  const commands = [];
  for (let i = 0; i < runs; i++) commands.push(await commandImport(engine, data, commitSize));
  const bySeconds = [...commands].sort((a, b) => a.seconds - b.seconds);
  const command = bySeconds[Math.floor((bySeconds.length - 1) / 2)];
  // The in-process import before the baselines, so that its peak RSS is not theirs.
  const run = await benchImport(engine, data, commitSize);
  const parse = benchParse(paths);
  const raw = benchRawSqlite(paths);

  const { summary, seconds } = run;
  console.log(`data:     ${data}: ${paths.length} files, ${(gz / MB).toFixed(1)} MB on disk, ${(parse.bytes / MB).toFixed(1)} MB JSON, ${parse.resources} resources`);
  console.log(`engine:   ${command.label}; ${commitSize === undefined ? 'default commit size' : `--commit-size ${commitSize}`}`);
  const median = runs > 1 ? `, median of ${runs} runs` : '';
  console.log(`import:   node bin/kiln.js import: ${command.resources} resources (${command.failed} failed files) in ${command.seconds.toFixed(2)} s from start to exit${median} = ${rate(command.resources, command.seconds)}`);
  if (runs > 1) console.log(`          each run: ${commands.map((c) => `${c.seconds.toFixed(2)} s`).join(', ')}`);
  console.log(`          its summary: ${command.line}`);
  if (command.threads) {
    const { all, main, helpers } = command.threads;
    console.log(
      `cpu:      ${all.toFixed(2)} s of CPU in ${command.seconds.toFixed(2)} s (${(all / command.seconds).toFixed(2)} cores): main thread ${main.toFixed(2)} s, V8 helper threads ${helpers.toFixed(2)} s, the rest (the preparing thread) ${(all - main - helpers).toFixed(2)} s`,
    );
  }
  const peak = Math.max(...commands.map((c) => c.peak));
  console.log(`memory:   peak RSS ${(peak / MB).toFixed(0)} MB over the runs; RSS during the median run ${(Math.min(...command.samples) / MB).toFixed(0)}..${(Math.max(...command.samples) / MB).toFixed(0)} MB (${command.samples.length} samples)`);
  console.log(
    `in-process (sources, statement timing): ${summary.resources} resources (${summary.written} new versions, ${summary.failed.length} failed files) in ${seconds.toFixed(2)} s = ${rate(summary.resources, seconds)}`,
  );
  console.log(`baseline: read+gunzip+JSON.parse ${parse.seconds.toFixed(2)} s = ${rate(parse.resources, parse.seconds)}`);
  console.log(`baseline: raw better-sqlite3 insert (parse+stringify+insert, no FHIR work) ${raw.seconds.toFixed(2)} s = ${rate(raw.resources, raw.seconds)}`);
  // The machine's speed moves both alike; their ratio much less (docs/benchmarks.md).
  console.log(`ratio:    the import took ${(command.seconds / raw.seconds).toFixed(2)} times the raw insert baseline`);
  const sqlMs = run.statements.reduce((n, st) => n + st.ms, 0);
  const sqlCount = run.statements.reduce((n, st) => n + st.n, 0);
  console.log(`sql:      ${(sqlMs / 1000).toFixed(2)} s in ${sqlCount} statements (COMMITs not included); largest:`);
  for (const st of run.statements.slice(0, 8)) console.log(`            ${(st.ms / 1000).toFixed(2).padStart(6)} s ${String(st.n).padStart(7)} x ${st.key}`);
  if (engine === 'sqlite') console.log(`target:   10,000/s on SQLite: ${command.resources / command.seconds >= 10_000 ? 'met' : 'missed'}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
