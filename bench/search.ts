/**
 * Search latency and throughput over a loaded database, for the searches FHIR apps run
 * most. Each query is first timed one request at a time (p50/p95 over --samples, after
 * 20 untimed requests), then
 * driven by autocannon (10 connections) for throughput. The baselines in the same run
 * are a bare node:http server answering the bytes of a read (the floor of this client on
 * this machine, `bench/bare-server.ts`) and a read by id on the same server. Each load
 * run also reports the server's CPU time per request (Linux /proc). Every request carries a Bearer token of a backend
 * client registered for the run (`system/*.rs`, through `kiln clients add`); the load
 * runs get a fresh token each.
 *
 *   node --import tsx bench/search.ts --database sqlite:/path/kiln.sqlite [--samples 200] [--duration 5] [--explain]
 *
 * `--explain` also prints each search's query plan (bench/explain.ts). The server runs
 * from the compiled build, as `npm start` runs it.
 *
 * Load the database first, e.g. `DATABASE_URL=sqlite:/tmp/big.sqlite kiln seed --patients 2000`
 * (about a million resources) or `kiln import ../shared/data/synthea-r4`. A PostgreSQL
 * database needs the KILN_SECRET_KEY it was made with.
 */
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { connect } from '../server/db/connect.js';
import { explainSearch } from './explain.js';
import type { ChildProcess } from 'node:child_process';
import { BackendAuth, checkRunLength, compiledServer, freePort, startKiln, startNode, waitFor, withServerCpu } from './lib.js';

const { values: args } = parseArgs({
  options: {
    database: { type: 'string' },
    samples: { type: 'string', default: '200' },
    duration: { type: 'string', default: '5' },
    explain: { type: 'boolean', default: false },
  },
});
if (!args.database) throw new Error('--database is required (sqlite:PATH or postgres://...)');
checkRunLength(Number(args.duration));

/** The parts of the resources read here to pick search values. */
interface Picked {
  subject?: { reference?: string };
  effectiveDateTime?: string;
  name?: { family?: string }[];
  identifier?: { system?: string; value?: string }[];
}
type Bundle = { entry?: { resource: Picked }[]; link?: { relation: string; url: string }[]; total?: number };

/** Set once the server is up: every request needs a token. */
let auth: BackendAuth | undefined;
function client(): BackendAuth {
  if (!auth) throw new Error('no client registered yet');
  return auth;
}

async function getJson<T>(url: string): Promise<T> {
  // A token with a minute left at least: one sample never takes that long.
  const res = await fetch(url, { headers: { authorization: `Bearer ${await client().current()}` } });
  if (!res.ok) throw new Error(`${res.status} for ${url}: ${(await res.text()).slice(0, 300)}`);
  return (await res.json()) as T;
}

const get = (url: string) => getJson<Bundle>(url);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Untimed requests of each search before its samples. */
const WARM_UP = 20;

/** Searches whose plans `--explain` prints after the timings: [label, URL]. */
const explained: [string, string][] = [];

/** Times `url` (a FHIR search unless `fhir` is false); `pid` is the server answering it, for its CPU time per request. */
async function measure(label: string, url: string, pid: number | undefined, fhir = true) {
  if (!label.startsWith('baseline')) explained.push([label, url]);
  const times: number[] = [];
  let entries = 0;
  // Untimed first: the first requests of a search compile its code path and prepare its
  // statements, which says nothing about the steady state the percentiles describe.
  for (let i = 0; i < WARM_UP; i++) await get(url);
  for (let i = 0; i < Number(args.samples); i++) {
    const t = process.hrtime.bigint();
    const b = await get(url);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
    entries = fhir ? (b.entry?.length ?? 0) : 0;
  }
  times.sort((a, b) => a - b);
  const headers = await client().headers();
  const { result: ac, cpu } = await withServerCpu(pid, () => autocannon({ url, headers, connections: 10, duration: Number(args.duration) }));
  const row = { query: label, entries, 'p50 ms': +percentile(times, 50).toFixed(2), 'p95 ms': +percentile(times, 95).toFixed(2), 'req/s (10 conn)': Math.round(ac.requests.average), errors: ac.errors + ac.non2xx, ...(cpu === undefined ? {} : { 'server CPU µs/request': cpu }) };
  console.log(JSON.stringify(row));
}

/** Picks real values from the data so every query has matches. */
async function samples(base: string) {
  const obs = (await get(`${base}/Observation?code=http://loinc.org|8867-4&_count=1`)).entry?.[0]?.resource;
  const patientId = String(obs?.subject?.reference ?? '').split('/')[1];
  const patient = await getJson<Picked>(`${base}/Patient/${patientId}`);
  const family = patient.name?.[0]?.family ?? '';
  const ident = patient.identifier?.[0] ?? {};
  const day = String(obs?.effectiveDateTime ?? '2020-01-01').slice(0, 10);
  const next = new Date(Date.parse(day) + 86_400_000).toISOString().slice(0, 10);
  return { patientId, family, identifier: `${ident.system}|${ident.value}`, day, next };
}

async function deepPage(base: string, pages: number): Promise<string> {
  let url = `${base}/Observation?_count=50`;
  for (let i = 1; i < pages; i++) {
    const next = (await get(url)).link?.find((l) => l.relation === 'next')?.url;
    if (!next) break;
    url = next;
  }
  return url;
}

async function main() {
  let bare: ChildProcess | undefined;
  const kiln = await startKiln(args.database as string, { KILN_SAMPLE_DATA: 'false', KILN_LOG_LEVEL: 'warn' }, compiledServer());
  const { base } = kiln;
  try {
    auth = await BackendAuth.register(kiln);
    const scope = auth.scope;
    const total = (await get(`${base}/Observation?_summary=count`)).total;
    const s = await samples(base);
    console.log(JSON.stringify({ database: args.database?.replace(/\/\/[^@]*@/, '//***@'), observations: total, samples: Number(args.samples), auth: `Bearer token (client_credentials, ${scope})`, node: process.version }));
    // The floor of this client on this machine: a bare node:http server answering the read's bytes.
    const barePort = await freePort();
    bare = startNode('bench/bare-server.ts', [String(barePort)], { BODY: await (await fetch(`${base}/Patient/${s.patientId}`, { headers: await client().headers() })).text() });
    await waitFor(`http://127.0.0.1:${barePort}/`);
    await measure('baseline: bare node:http, the read\'s bytes', `http://127.0.0.1:${barePort}/`, bare.pid, false);
    const pid = kiln.proc.pid;
    await measure('baseline: read Patient/{id}', `${base}/Patient/${s.patientId}`, pid);
    await measure('Patient?name=', `${base}/Patient?name=${encodeURIComponent(s.family)}`, pid);
    await measure('Patient?identifier=', `${base}/Patient?identifier=${encodeURIComponent(s.identifier)}`, pid);
    await measure('Observation?patient&code&_sort=-date&_count=50', `${base}/Observation?patient=${s.patientId}&code=${encodeURIComponent('http://loinc.org|8867-4')}&_sort=-date&_count=50`, pid);
    await measure('Observation?date=ge&date=lt (one day)', `${base}/Observation?date=ge${s.day}&date=lt${s.next}`, pid);
    await measure('Encounter?patient&_revinclude=Provenance:target', `${base}/Encounter?patient=${s.patientId}&_revinclude=Provenance:target`, pid);
    await measure('Condition?subject:Patient.name=', `${base}/Condition?subject:Patient.name=${encodeURIComponent(s.family)}`, pid);
    await measure('Observation?_count=50, page 200 by next links', await deepPage(base, 200), pid);
    if (args.explain) {
      const db = connect(args.database as string);
      try {
        for (const [label, url] of explained) console.log(`\n${label}\n${await explainSearch(db, base, url.slice(base.length + 1))}`);
      } finally {
        await db.close();
      }
    }
  } finally {
    // The database outlives the run: the run's client should not keep working.
    bare?.kill('SIGTERM');
    if (auth) await auth.disable(kiln);
    await kiln.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
