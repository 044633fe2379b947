/**
 * Token endpoint throughput, reported without a target:
 * (a) client_credentials grants with a private_key_jwt assertion (SMART Backend Services),
 * (b) authorization code exchanges with PKCE by a public app (SMART App Launch), with an
 *     id_token and a patient in context, as a standalone patient app gets them.
 *
 *   node --import tsx bench/token.ts [--engine sqlite|postgres] [--grants 3000] [--codes 2000]
 *        [--concurrency 10] [--alg RS384|ES384] [--log-level info]
 *
 * The server is `kiln serve` in its own process over a fresh database; the requests come
 * from this one, `--concurrency` at a time with fetch. Everything a request needs is made
 * before the timed part, so that only the server's work is timed: (a) the client
 * assertions are signed in advance, each with its own `jti` (the server refuses a
 * replayed one); (b) the authorization codes are made here through the provider's own
 * models (a grant with the resource scopes and the launch context, then the code) over
 * the same database, instead of through the sign-in and consent pages. Codes live 60
 * seconds, so --codes must be exchanged within that. PostgreSQL needs
 * KILN_TEST_DATABASE_URL (a fresh schema is created and dropped).
 */
import { createHash, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { loadConfig } from '../server/config.js';
import type { Engine } from '../server/db/connect.js';
import { createSmart } from '../smart/index.js';
import { saveGrantContext } from '../smart/provider/state.js';
import { freshDatabase, type TestDatabase } from '../test/helpers/db.js';
import { BackendAuth, startKiln, type KilnProcess } from './lib.js';

const { values: args } = parseArgs({
  options: {
    engine: { type: 'string', default: 'sqlite' },
    grants: { type: 'string', default: '3000' },
    codes: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '10' },
    alg: { type: 'string', default: 'RS384' },
    'log-level': { type: 'string', default: 'info' },
  },
});
if (args.engine !== 'sqlite' && args.engine !== 'postgres') throw new Error('--engine must be sqlite or postgres');
if (args.alg !== 'RS384' && args.alg !== 'ES384') throw new Error('--alg must be RS384 or ES384');
const GRANTS = Number(args.grants);
const CODES = Number(args.codes);
const CONCURRENCY = Number(args.concurrency);
/** Requests sent first and not timed, in each part: connections opened, code paths compiled. */
const WARM_UP = 200;

/** The app of part (b): OpenID, launch context and resource scopes (no wildcards, as a patient app registers them). */
const APP_OIDC_SCOPES = 'openid fhirUser launch/patient';
const APP_RESOURCE_SCOPES = 'patient/Patient.rs patient/Observation.rs';
const REDIRECT_URI = 'http://127.0.0.1/callback';

interface RunResult {
  ok: number;
  errors: number;
  seconds: number;
  latencies: number[];
  firstError?: string;
}

/** POSTs every form body to `url`, CONCURRENCY at a time, each request as soon as one ends. */
async function post(url: string, bodies: string[]): Promise<RunResult> {
  const out: RunResult = { ok: 0, errors: 0, seconds: 0, latencies: [] };
  let next = 0;
  const worker = async () => {
    while (next < bodies.length) {
      const body = bodies[next++];
      const t = process.hrtime.bigint();
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
      const text = await res.text();
      out.latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (res.status === 200) out.ok++;
      else {
        out.errors++;
        out.firstError ??= `${res.status} ${text.slice(0, 200)}`;
      }
    }
  };
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  out.seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return out;
}

function report(label: string, r: RunResult, unit: string) {
  const sorted = [...r.latencies].sort((a, b) => a - b);
  const at = (p: number) => +sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))].toFixed(2);
  const line = { label, requests: r.ok + r.errors, seconds: +r.seconds.toFixed(2), [`${unit}/s`]: Math.round(r.ok / r.seconds), 'p50 ms': at(0.5), 'p99 ms': at(0.99), errors: r.errors, ...(r.firstError ? { firstError: r.firstError } : {}) };
  console.log(JSON.stringify(line));
}

/** (a) client_credentials: assertions signed first, then POSTed. */
async function clientCredentials(kiln: KilnProcess) {
  const auth = await BackendAuth.register(kiln, 'system/*.rs', args.alg as 'RS384' | 'ES384');
  const sign = async (n: number) => {
    const out: string[] = [];
    // Close to the five minutes the server allows, so the run has room to finish.
    for (let i = 0; i < n; i++) out.push(auth.grantBody(await auth.assertion(290)));
    return out;
  };
  await post(auth.tokenUrl, await sign(WARM_UP));
  const t = process.hrtime.bigint();
  const bodies = await sign(GRANTS);
  const signUs = Number(process.hrtime.bigint() - t) / 1e3 / GRANTS;
  console.log(JSON.stringify({ part: 'a', assertions: GRANTS, alg: args.alg, 'signing µs/assertion (client side, not timed)': Math.round(signUs) }));
  report(`client_credentials, private_key_jwt ${args.alg}, scope ${auth.scope}`, await post(auth.tokenUrl, bodies), 'grants');
}

/** (b) authorization codes made through the provider's models, then exchanged over HTTP. */
async function codeExchanges(kiln: KilnProcess, fresh: TestDatabase) {
  // The same configuration as the server's, so the models carry its issuer and the same keys open.
  const config = loadConfig({ ...process.env, ...kiln.env, KILN_BASE_URL: kiln.base, KILN_LOG_LEVEL: 'silent' });
  const smart = await createSmart(config, fresh.db);
  const { provider } = smart;
  const { client } = await smart.clients.add(
    { client_name: 'kiln bench app', redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], scope: `${APP_OIDC_SCOPES} ${APP_RESOURCE_SCOPES}` },
    { by: 'operator' },
  );
  const patient = 'bench-patient';
  const user = await smart.users.add({ username: 'bench-patient-user', password: 'long enough password', role: 'patient', fhirUser: `Patient/${patient}` });
  const providerClient = await provider.Client.find(client.clientId);
  if (!providerClient) throw new Error('the provider does not see the bench app');
  const tokenUrl = `${kiln.issuer}/token`;

  /** One authorization as the consent page leaves it: a grant, its launch context and a code. */
  const authorize = async (): Promise<string> => {
    const verifier = randomBytes(32).toString('base64url');
    const grant = new provider.Grant({ accountId: user.id, clientId: client.clientId });
    grant.addOIDCScope(APP_OIDC_SCOPES);
    grant.addResourceScope(smart.audience, APP_RESOURCE_SCOPES);
    const grantId = await grant.save();
    await saveGrantContext(fresh.db.knex, grantId, { patient, fhirUser: `Patient/${patient}`, needPatientBanner: true }, config.refreshTokenTtl);
    const code = new provider.AuthorizationCode({
      accountId: user.id,
      client: providerClient,
      grantId,
      gty: 'authorization_code',
      scope: `${APP_OIDC_SCOPES} ${APP_RESOURCE_SCOPES}`,
      redirectUri: REDIRECT_URI,
      codeChallenge: createHash('sha256').update(verifier).digest('base64url'),
      codeChallengeMethod: 'S256',
      resource: smart.audience,
      authTime: Math.floor(Date.now() / 1000),
    });
    const value = await code.save();
    return new URLSearchParams({ grant_type: 'authorization_code', code: value, redirect_uri: REDIRECT_URI, code_verifier: verifier, client_id: client.clientId }).toString();
  };
  const make = async (n: number) => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(await authorize());
    return out;
  };

  const [probe] = await make(1);
  const res = await fetch(tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: probe });
  const body = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200 || typeof body.id_token !== 'string' || body.patient !== patient) throw new Error(`code exchange failed: ${res.status} ${JSON.stringify(body)}`);
  await post(tokenUrl, await make(WARM_UP));
  const t = process.hrtime.bigint();
  const bodies = await make(CODES);
  const makeMs = Number(process.hrtime.bigint() - t) / 1e6;
  console.log(JSON.stringify({ part: 'b', codes: CODES, 'made in ms (not timed)': Math.round(makeMs), response: Object.keys(body).sort().join(' '), scope: body.scope }));
  report('authorization_code + PKCE S256, public client, id_token, patient context', await post(tokenUrl, bodies), 'exchanges');
}

async function main() {
  const fresh = await freshDatabase(args.engine as Engine);
  let kiln: KilnProcess | undefined;
  try {
    kiln = await startKiln(fresh.url, { KILN_SAMPLE_DATA: 'false', KILN_LOG_LEVEL: args['log-level'] as string });
    console.log(JSON.stringify({ engine: args.engine, concurrency: CONCURRENCY, grants: GRANTS, codes: CODES, warmUp: WARM_UP, logLevel: args['log-level'], node: process.version }));
    await clientCredentials(kiln);
    await codeExchanges(kiln, fresh);
  } finally {
    await kiln?.stop();
    await fresh.drop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
