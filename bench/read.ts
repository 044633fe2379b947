/**
 * Read-by-id throughput: Kiln against a bare node:http server returning the same bytes,
 * measured in the same run with autocannon.
 *
 *   node --import tsx bench/read.ts [--engine sqlite|postgres] [--patients 20]
 *        [--duration 10] [--connections 10] [--rounds 3] [--log-level info] [--workers 1,2]
 *
 * Kiln runs as `npm start` runs it, from the compiled build (made first, see
 * `compiledServer`). Each server runs in its own process, the load generator in this one, so on a 2-core
 * machine a one-process server has a core to itself, while two workers share both
 * cores with the load generator. Kiln's requests carry a Bearer
 * token of a backend client registered for the run (`system/*.rs`, a fresh token for
 * every load run); the bare server ignores the header. `--workers` lists the
 * `KILN_WORKERS` settings to measure: each is its own `kiln serve` over the same
 * database, and each round loads the bare server and then each of them. Each run also
 * reports the server's CPU time per request (its processes', from /proc on Linux). PostgreSQL needs
 * KILN_TEST_DATABASE_URL (a fresh schema is created and dropped).
 */
import type { ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import type { Engine } from '../server/db/connect.js';
import { freshDatabase } from '../test/helpers/db.js';
import { BackendAuth, checkRunLength, compiledServer, freePort, startKiln, startNode, waitFor, load as loadRun, median, type KilnProcess } from './lib.js';

const { values: args } = parseArgs({
  options: {
    engine: { type: 'string', default: 'sqlite' },
    patients: { type: 'string', default: '20' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '10' },
    'log-level': { type: 'string', default: 'info' },
    rounds: { type: 'string', default: '3' },
    workers: { type: 'string', default: '1' },
  },
});
checkRunLength(Number(args.duration));

/** One timed run with this benchmark's settings; `pid` is the server's, for its CPU time per request. */
const load = (url: string, label: string, headers: Record<string, string>, pid?: number) =>
  loadRun(url, label, headers, { connections: Number(args.connections), duration: Number(args.duration), pid });

async function main() {
  const workers = (args.workers as string).split(',').map(Number);
  if (workers.some((w) => !Number.isInteger(w) || w < 1)) throw new Error('--workers takes a list of counts, such as 1,2');
  const fresh = await freshDatabase(args.engine as Engine);
  const entry = compiledServer();
  const kilns: KilnProcess[] = [];
  let bare: ChildProcess | undefined;
  try {
    // The first seeds the sample data; the others find it there.
    for (const w of workers) kilns.push(await startKiln(fresh.url, { KILN_SAMPLE_PATIENTS: args.patients as string, KILN_LOG_LEVEL: args['log-level'] as string, KILN_WORKERS: String(w) }, entry));
    // Tokens are issued for one server's base URL (their audience): a client per server.
    const auths = await Promise.all(kilns.map((k) => BackendAuth.register(k)));
    const auth = auths[0];
    const headers = await auth.headers();
    const { base } = kilns[0];
    const page = (await (await fetch(`${base}/Patient/_history?_count=1`, { headers })).json()) as { entry: { resource: { id: string } }[] };
    const id = page.entry[0].resource.id;
    const bytes = await (await fetch(`${base}/Patient/${id}`, { headers })).text();
    const [{ n }] = await fresh.db.knex('resources').count({ n: '*' });
    console.log(JSON.stringify({ engine: args.engine, resources: Number(n), patients: Number(args.patients), bodyBytes: bytes.length, connections: Number(args.connections), durationS: Number(args.duration), auth: `Bearer token (client_credentials, ${auth.scope})`, server: 'compiled (bin/kiln.js serve)', workers, node: process.version }));
    const barePort = await freePort();
    bare = startNode('bench/bare-server.ts', [String(barePort)], { BODY: bytes });
    const bareUrl = `http://127.0.0.1:${barePort}/`;
    await waitFor(bareUrl);
    const kilnUrl = (k: KilnProcess) => `${k.base}/Patient/${id}`;
    await load(bareUrl, 'warm-up bare', await auth.headers());
    for (const [i, k] of kilns.entries()) await load(kilnUrl(k), `warm-up kiln, KILN_WORKERS=${workers[i]}`, await auths[i].headers());
    // Alternating rounds, so that whatever else the machine does weighs on all alike.
    const bareRuns: number[] = [];
    const bareCpu: number[] = [];
    const kilnRuns: number[][] = kilns.map(() => []);
    const kilnCpu: number[][] = kilns.map(() => []);
    for (let round = 1; round <= Number(args.rounds); round++) {
      const b = await load(bareUrl, `round ${round}: bare node:http, same bytes`, await auth.headers(), bare.pid);
      bareRuns.push(b['req/s']);
      if (b['server CPU µs/request'] !== undefined) bareCpu.push(b['server CPU µs/request']);
      for (const [i, k] of kilns.entries()) {
        const run = await load(kilnUrl(k), `round ${round}: kiln read Patient/${id}, KILN_WORKERS=${workers[i]}`, await auths[i].headers(), k.proc.pid);
        kilnRuns[i].push(run['req/s']);
        if (run['server CPU µs/request'] !== undefined) kilnCpu[i].push(run['server CPU µs/request']);
      }
    }
    const b = median(bareRuns);
    for (const [i, runs] of kilnRuns.entries()) {
      const k = median(runs);
      // CPU per request: the server's own cost, next to the throughput the target is set on.
      const cpu = bareCpu.length && kilnCpu[i].length ? { 'bare CPU µs/request': median(bareCpu), 'kiln CPU µs/request': median(kilnCpu[i]) } : {};
      console.log(JSON.stringify({ KILN_WORKERS: workers[i], 'bare median req/s': b, 'kiln median req/s': k, ratio: Math.round((k / b) * 1000) / 10 + '%', target: '>= 50%', ...cpu }));
    }
  } finally {
    bare?.kill('SIGTERM');
    for (const k of kilns) await k.stop();
    await fresh.drop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
