/**
 * Read-by-id throughput: Kiln against a bare node:http server returning the same bytes,
 * measured in the same run with autocannon.
 *
 *   node --import tsx bench/read.ts [--engine sqlite|postgres] [--patients 20]
 *        [--duration 10] [--connections 10] [--rounds 3] [--log-level info]
 *
 * Each server runs in its own process, the load generator in this one, so on a 2-core
 * machine the server under test has one core to itself. PostgreSQL needs
 * KILN_TEST_DATABASE_URL (a fresh schema is created and dropped).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import knexFactory from 'knex';

const { values: args } = parseArgs({
  options: {
    engine: { type: 'string', default: 'sqlite' },
    patients: { type: 'string', default: '20' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '10' },
    'log-level': { type: 'string', default: 'info' },
    rounds: { type: 'string', default: '3' },
  },
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function start(cmd: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, cmd, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
}

async function waitFor(url: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function load(url: string, label: string) {
  const result = await autocannon({ url, connections: Number(args.connections), duration: Number(args.duration) });
  const line = { label, 'req/s': Math.round(result.requests.average), 'p50 ms': result.latency.p50, 'p99 ms': result.latency.p99, errors: result.errors + result.non2xx };
  console.log(JSON.stringify(line));
  return line;
}

async function database(): Promise<{ url: string; cleanup: () => Promise<void> }> {
  if (args.engine === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-'));
    return { url: `sqlite:${join(dir, 'kiln.sqlite')}`, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const base = process.env.KILN_TEST_DATABASE_URL;
  if (!base) throw new Error('--engine postgres needs KILN_TEST_DATABASE_URL');
  const schema = `kiln_bench_${Date.now()}`;
  const admin = knexFactory({ client: 'pg', connection: base });
  await admin.raw(`create schema "${schema}"`);
  const u = new URL(base);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return {
    url: u.href,
    cleanup: async () => {
      await admin.raw(`drop schema "${schema}" cascade`);
      await admin.destroy();
    },
  };
}

async function main() {
  const db = await database();
  const kilnPort = await freePort();
  const env = { DATABASE_URL: db.url, PORT: String(kilnPort), HOST: '127.0.0.1', KILN_SAMPLE_PATIENTS: args.patients, KILN_LOG_LEVEL: args['log-level'] as string };
  const kiln = start(['--import', 'tsx', 'server/bin.ts', 'serve'], env);
  const bare = { port: await freePort() } as { port: number; proc?: ChildProcess };
  try {
    const base = `http://127.0.0.1:${kilnPort}/fhir/r4`;
    await waitFor(`http://127.0.0.1:${kilnPort}/readyz`);
    const page = (await (await fetch(`${base}/Patient/_history?_count=1`)).json()) as { entry: { resource: { id: string } }[] };
    const id = page.entry[0].resource.id;
    const bytes = await (await fetch(`${base}/Patient/${id}`)).text();
    const [{ n }] = await knexCount(db.url);
    console.log(JSON.stringify({ engine: args.engine, resources: n, patients: Number(args.patients), bodyBytes: bytes.length, connections: Number(args.connections), durationS: Number(args.duration), node: process.version }));
    bare.proc = start(['--import', 'tsx', 'bench/bare-server.ts', String(bare.port)], { BODY: bytes });
    await waitFor(`http://127.0.0.1:${bare.port}/`);
    await load(`http://127.0.0.1:${bare.port}/`, 'warm-up bare');
    await load(`${base}/Patient/${id}`, 'warm-up kiln');
    // Alternating rounds, so that whatever else the machine does weighs on both alike.
    const bareRuns: number[] = [];
    const kilnRuns: number[] = [];
    for (let round = 1; round <= Number(args.rounds); round++) {
      bareRuns.push((await load(`http://127.0.0.1:${bare.port}/`, `round ${round}: bare node:http, same bytes`))['req/s']);
      kilnRuns.push((await load(`${base}/Patient/${id}`, `round ${round}: kiln read Patient/${id}`))['req/s']);
    }
    const b = median(bareRuns);
    const k = median(kilnRuns);
    console.log(JSON.stringify({ 'bare median req/s': b, 'kiln median req/s': k, ratio: Math.round((k / b) * 1000) / 10 + '%', target: '>= 50%' }));
  } finally {
    kiln.kill('SIGTERM');
    bare.proc?.kill('SIGTERM');
    await new Promise((r) => kiln.once('exit', r));
    await db.cleanup();
  }
}

async function knexCount(url: string): Promise<{ n: number }[]> {
  if (url.startsWith('sqlite:')) {
    const k = knexFactory({ client: 'better-sqlite3', connection: { filename: url.slice(7) }, useNullAsDefault: true });
    const rows = await k('resources').count({ n: '*' });
    await k.destroy();
    return [{ n: Number(rows[0].n) }];
  }
  const k = knexFactory({ client: 'pg', connection: url });
  const rows = await k('resources').count({ n: '*' });
  await k.destroy();
  return [{ n: Number(rows[0].n) }];
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
