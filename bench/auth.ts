/**
 * Token validation overhead: read-by-id throughput of Kiln with a real Bearer token
 * against the same server with the token check replaced by a constant answer
 * (bench/kiln-fixed-auth.ts), in the same run with autocannon. Target: with the token
 * check, at least 85% of the requests/s without it.
 *
 *   node --import tsx bench/auth.ts [--engine sqlite|postgres] [--patients 20]
 *        [--duration 10] [--connections 10] [--rounds 3] [--log-level info]
 *
 * Kiln has no unauthenticated mode, so the baseline is a second process built by the
 * same `createApp` over the same database, differing only in the token check. Both get
 * the same request bytes, a real token included. Each server runs in its own process,
 * the load generator in this one; rounds alternate between the two, in alternating
 * order, so that whatever else the machine does weighs on both alike. Every load run
 * gets a fresh client_credentials token (they live 5 minutes). PostgreSQL needs
 * KILN_TEST_DATABASE_URL (a fresh schema is created and dropped).
 */
import { parseArgs } from 'node:util';
import type { Engine } from '../server/db/connect.js';
import { freshDatabase } from '../test/helpers/db.js';
import { BackendAuth, checkRunLength, startKiln, type KilnProcess, load as loadRun, median } from './lib.js';

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
if (args.engine !== 'sqlite' && args.engine !== 'postgres') throw new Error('--engine must be sqlite or postgres');
checkRunLength(Number(args.duration));

const TARGET = 0.85;

/** One timed run with this benchmark's settings. */
const load = (url: string, label: string, headers: Record<string, string>) =>
  loadRun(url, label, headers, { connections: Number(args.connections), duration: Number(args.duration) });

/** Status and body of one GET, to check both servers answer alike before timing them. */
async function probe(url: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { headers });
  return { status: res.status, text: await res.text() };
}

async function main() {
  const fresh = await freshDatabase(args.engine as Engine);
  const env = { KILN_LOG_LEVEL: args['log-level'] as string };
  let real: KilnProcess | undefined;
  let fixed: KilnProcess | undefined;
  try {
    real = await startKiln(fresh.url, { ...env, KILN_SAMPLE_PATIENTS: args.patients as string });
    const auth = await BackendAuth.register(real);
    fixed = await startKiln(fresh.url, { ...env, KILN_SAMPLE_DATA: 'false', BENCH_CLIENT_ID: auth.client.clientId, BENCH_SCOPE: auth.scope }, { script: 'bench/kiln-fixed-auth.ts', args: [] });

    const headers = await auth.headers();
    const page = JSON.parse((await probe(`${real.base}/Patient?_count=1`, headers)).text) as { entry: { resource: { id: string } }[] };
    const path = `Patient/${page.entry[0].resource.id}`;
    const withToken = await probe(`${real.base}/${path}`, headers);
    const withoutToken = await probe(`${real.base}/${path}`);
    const baseline = await probe(`${fixed.base}/${path}`, headers);
    if (withToken.status !== 200 || withoutToken.status !== 401 || baseline.status !== 200 || baseline.text !== withToken.text) {
      throw new Error(`servers disagree: with token ${withToken.status}, without ${withoutToken.status}, fixed-auth ${baseline.status} (same body: ${baseline.text === withToken.text})`);
    }
    const [{ n }] = await fresh.db.knex('resources').count({ n: '*' });
    console.log(
      JSON.stringify({
        engine: args.engine,
        resources: Number(n),
        patients: Number(args.patients),
        read: path,
        bodyBytes: withToken.text.length,
        token: `opaque, ${headers.authorization.length - 'Bearer '.length} chars, client_credentials ${auth.scope}`,
        connections: Number(args.connections),
        durationS: Number(args.duration),
        rounds: Number(args.rounds),
        logLevel: args['log-level'],
        node: process.version,
      }),
    );

    const realUrl = `${real.base}/${path}`;
    const fixedUrl = `${fixed.base}/${path}`;
    const runReal = async (label: string) => (await load(realUrl, `${label}: kiln, token checked`, await auth.headers()))['req/s'];
    const runFixed = async (label: string) => (await load(fixedUrl, `${label}: kiln, fixed authorization`, await auth.headers()))['req/s'];
    await runFixed('warm-up');
    await runReal('warm-up');
    const realRuns: number[] = [];
    const fixedRuns: number[] = [];
    for (let round = 1; round <= Number(args.rounds); round++) {
      // Alternating order too: the second run of a pair may find the machine warmer or busier.
      if (round % 2 === 1) {
        realRuns.push(await runReal(`round ${round}`));
        fixedRuns.push(await runFixed(`round ${round}`));
      } else {
        fixedRuns.push(await runFixed(`round ${round}`));
        realRuns.push(await runReal(`round ${round}`));
      }
    }
    const r = median(realRuns);
    const f = median(fixedRuns);
    const ratio = r / f;
    console.log(
      JSON.stringify({
        'fixed-auth median req/s': f,
        'token-checked median req/s': r,
        ratio: `${Math.round(ratio * 1000) / 10}%`,
        // With the server on one core and saturated, 1/throughput is its time per request.
        'token check µs/request': Math.round((1e6 / r - 1e6 / f) * 10) / 10,
        target: `>= ${TARGET * 100}% (${ratio >= TARGET ? 'met' : 'missed'})`,
      }),
    );
  } finally {
    await fixed?.stop();
    await real?.stop();
    await fresh.drop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
