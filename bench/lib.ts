/**
 * What the benchmarks share: a free port, a `kiln serve` child process, waiting for a
 * server to answer, and access tokens for the FHIR API (every FHIR request but
 * `GET metadata` needs one).
 */
import autocannon from 'autocannon';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { clientAssertion, keyPair, type BackendClient } from '../test/helpers/auth.js';

/** A port the OS just handed out and released, for a child process to listen on. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Polls `url` until it answers 2xx (at most a minute). */
export async function waitFor(url: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await fetch(url).then((r) => r.ok, () => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

/** Runs an entry of the project as its own process (stdout dropped, stderr shown); TypeScript through tsx. */
export function startNode(script: string, args: string[], env: Record<string, string | undefined>): ChildProcess {
  const loader = script.endsWith('.ts') ? ['--import', 'tsx'] : [];
  return spawn(process.execPath, [...loader, script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
}

/**
 * The server as `npm start` runs it: compiles the sources (`npm run build`) and returns
 * the `kiln serve` entry of the build. Benchmarks of the request path use it, since tsx
 * adds work to every call of the sources it runs.
 */
export function compiledServer(): { script: string; args: string[] } {
  const built = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  if (built.status !== 0) throw new Error('the build (tsc -p tsconfig.build.json) failed');
  return { script: 'bin/kiln.js', args: ['serve'] };
}

/**
 * Key material for the secret box of kiln processes over a PostgreSQL database the
 * benchmark made: every process on one database must share it. SQLite keeps its key in
 * a file beside the database instead.
 */
const BENCH_SECRET_KEY = 'kiln-bench-secret-key-material-0123456789';

/** The environment every kiln process over `databaseUrl` needs (an explicit KILN_SECRET_KEY wins). */
export function kilnEnv(databaseUrl: string): Record<string, string> {
  const env: Record<string, string> = { DATABASE_URL: databaseUrl };
  if (!databaseUrl.startsWith('sqlite:') && !process.env.KILN_SECRET_KEY) env.KILN_SECRET_KEY = BENCH_SECRET_KEY;
  return env;
}

export interface KilnProcess {
  proc: ChildProcess;
  /** The FHIR base URL. */
  base: string;
  /** The authorization server's issuer (`<origin>/oauth`); its token URL is `<issuer>/token`. */
  issuer: string;
  /** The environment of this process without its port: for other kiln commands over the same database. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Starts `kiln serve` (or another entry that serves like it) on a free port over
 * `databaseUrl` and waits until it is ready. The base URL names 127.0.0.1 and the
 * port, so that the token URL clients put in their assertions is the issuer's own.
 */
export async function startKiln(databaseUrl: string, env: Record<string, string> = {}, entry = { script: 'server/bin.ts', args: ['serve'] }): Promise<KilnProcess> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const shared = { ...kilnEnv(databaseUrl), ...env };
  const proc = startNode(entry.script, entry.args, { ...shared, PORT: String(port), HOST: '127.0.0.1', KILN_BASE_URL: `${origin}/fhir/r4` });
  const exited = new Promise((r) => proc.once('exit', r));
  try {
    await Promise.race([waitFor(`${origin}/readyz`), exited.then(() => Promise.reject(new Error(`${entry.script} exited before it was ready`)))]);
  } catch (err) {
    // A server that never came up must not outlive the benchmark.
    proc.kill('SIGTERM');
    throw err;
  }
  return {
    proc,
    base: `${origin}/fhir/r4`,
    issuer: `${origin}/oauth`,
    env: shared,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

/** Runs a `kiln` command to completion with `input` on its standard input; resolves to its standard output. */
export function runKiln(args: string[], env: Record<string, string>, input = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'server/bin.ts', ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    proc.stdout.on('data', (b: Buffer) => out.push(b));
    proc.stderr.on('data', (b: Buffer) => err.push(b));
    proc.once('error', reject);
    proc.once('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else reject(new Error(`kiln ${args.join(' ')} exited with ${code}: ${Buffer.concat(err).toString('utf8').slice(0, 500)}`));
    });
    proc.stdin.end(input);
  });
}

/** client_credentials tokens live this long (smart/provider: at most 5 minutes). */
const TOKEN_TTL_MS = 300_000;

/**
 * A backend-services client of the server under test, registered as an operator does
 * (`kiln clients add`), that gets its access tokens with the client_credentials grant
 * and a private_key_jwt assertion (https://hl7.org/fhir/smart-app-launch/backend-services.html).
 */
export class BackendAuth {
  private cached?: { token: string; at: number };

  private constructor(
    readonly client: BackendClient,
    /** `<issuer>/token`. */
    readonly tokenUrl: string,
    readonly scope: string,
  ) {}

  static async register(kiln: KilnProcess, scope = 'system/*.rs', alg: 'RS384' | 'ES384' = 'RS384'): Promise<BackendAuth> {
    const key = await keyPair(alg);
    const metadata = { client_name: 'kiln bench', grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.publicJwk] }, scope };
    const printed = JSON.parse(await runKiln(['clients', 'add', '--json', '-'], kiln.env, JSON.stringify(metadata))) as { client_id: string };
    return new BackendAuth({ clientId: printed.client_id, key }, `${kiln.issuer}/token`, scope);
  }

  /** Stops the client from getting tokens: for a database that outlives the benchmark. */
  async disable(kiln: KilnProcess): Promise<void> {
    await runKiln(['clients', 'disable', this.client.clientId], kiln.env);
  }

  /** A fresh signed client assertion (a new `jti` each time); `exp` in seconds from now. */
  assertion(expiresIn = 240): Promise<string> {
    return clientAssertion(this.client, this.tokenUrl, { exp: Math.floor(Date.now() / 1000) + expiresIn });
  }

  /** The form body of a client_credentials token request carrying `assertion`. */
  grantBody(assertion: string): string {
    return new URLSearchParams({
      grant_type: 'client_credentials',
      scope: this.scope,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }).toString();
  }

  /** A new access token, valid for the next five minutes. */
  async token(): Promise<string> {
    const res = await fetch(this.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: this.grantBody(await this.assertion()) });
    const body = (await res.json()) as { access_token?: string };
    if (res.status !== 200 || !body.access_token) throw new Error(`client_credentials failed: ${res.status} ${JSON.stringify(body)}`);
    this.cached = { token: body.access_token, at: Date.now() };
    return body.access_token;
  }

  /** The last token while it has at least `validForMs` left, otherwise a new one. */
  async current(validForMs = 60_000): Promise<string> {
    if (this.cached && Date.now() + validForMs < this.cached.at + TOKEN_TTL_MS) return this.cached.token;
    return this.token();
  }

  /** Request headers with a new token: for one load run, which must end within the token's five minutes. */
  async headers(): Promise<{ authorization: string }> {
    return { authorization: `Bearer ${await this.token()}` };
  }
}

/** Fails early when a load run of `seconds` could outlive a token taken just before it. */
export function checkRunLength(seconds: number): void {
  if (!(seconds > 0 && seconds * 1000 < TOKEN_TTL_MS - 30_000)) throw new Error(`--duration must be between 0 and ${(TOKEN_TTL_MS - 30_000) / 1000} s (access tokens live 5 minutes)`);
}

/** The middle value (the upper one of an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`; 100 on Linux). */
const CLOCK_TICKS = 100;

/** The fields of /proc/PID/stat after the command (which is in parentheses): state, ppid, …; undefined once it is gone. */
function statFields(pid: number | string): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The process `pid` and all its descendants (a `KILN_WORKERS` primary and its workers), from /proc. */
function processTree(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    const fields = /^\d+$/.test(entry) ? statFields(entry) : undefined;
    if (fields) parents.set(Number(entry), Number(fields[1]));
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [child, parent] of parents) if (parent === tree[i]) tree.push(child);
  return tree;
}

/** User plus system CPU time, in ms, of `pid` and its descendants (Linux /proc). */
function cpuMs(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) {
    const fields = statFields(p);
    // utime and stime are fields 14 and 15 of stat(5), 12 and 13 after the command.
    if (fields) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return (ticks * 1000) / CLOCK_TICKS;
}

/**
 * Runs `run` and returns its result with the CPU time per request, in µs, that process `pid`
 * and its descendants spent meanwhile (undefined without a pid, off Linux, or when no
 * request was answered): what a request costs the server, which moves less with the
 * machine's hour than requests/s, where the load generator shares the cores.
 */
export async function withServerCpu(pid: number | undefined, run: () => Promise<autocannon.Result>): Promise<{ result: autocannon.Result; cpu: number | undefined }> {
  const measured = pid !== undefined && existsSync('/proc/self/stat');
  const before = measured ? cpuMs(pid) : 0;
  const result = await run();
  if (!measured || result.requests.total === 0) return { result, cpu: undefined };
  return { result, cpu: Math.round(((cpuMs(pid) - before) * 1000) / result.requests.total) };
}

/**
 * One autocannon run against `url`; prints and returns requests/s, latency and errors.
 * With `pid`, also the server's CPU time per request (see `withServerCpu`).
 */
export async function load(url: string, label: string, headers: Record<string, string>, opts: { connections: number; duration: number; pid?: number }) {
  const { result, cpu } = await withServerCpu(opts.pid, () => autocannon({ url, headers, connections: opts.connections, duration: opts.duration }));
  const line = { label, 'req/s': Math.round(result.requests.average), 'p50 ms': result.latency.p50, 'p99 ms': result.latency.p99, errors: result.errors + result.non2xx, ...(cpu === undefined ? {} : { 'server CPU µs/request': cpu }) };
  console.log(JSON.stringify(line));
  return line;
}

/** Preload (`node --require`) that makes a process report its threads' CPU time at exit (`threadCpu`). */
export const THREAD_CPU_PRELOAD = fileURLToPath(new URL('./thread-cpu.cjs', import.meta.url));

/** CPU seconds of a process's threads, as `THREAD_CPU_PRELOAD` reported them in `stderr`. */
export interface ThreadCpu {
  /** The whole process. */
  all: number;
  main: number;
  /** V8's and libuv's helper threads (garbage collection). */
  helpers: number;
}

/** The report `THREAD_CPU_PRELOAD` wrote into `stderr`, if it is there. */
export function threadCpu(stderr: string): ThreadCpu | undefined {
  const m = /kiln-thread-cpu (\{.*\})/.exec(stderr);
  return m ? (JSON.parse(m[1]) as ThreadCpu) : undefined;
}
