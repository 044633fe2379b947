import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { freePort } from './app.js';
import type { BackendClient } from './auth.js';
import { keyPair } from './auth.js';
import { runKiln, withoutRuntimeWarning } from './kiln.js';

/**
 * `kiln serve` as an operator runs it: its own process, from the sources, on a free
 * port of 127.0.0.1, with stdout and stderr collected.
 */
export interface ServeProcess {
  child: ChildProcessWithoutNullStreams;
  port: number;
  /** `http://127.0.0.1:<port>`. */
  origin: string;
  /** The FHIR base URL. */
  base: string;
  /** Standard output so far (JSON log lines). */
  out(): string;
  /** Standard error so far. */
  err(): string;
  /** Polls every 100 ms, at most `tries` times, until `done()` holds. */
  until(done: () => boolean, tries?: number): Promise<void>;
  /** Resolves with the exit code once the process has exited and its output has all been read ('close', not 'exit'). */
  exited: Promise<number | null>;
}

/** Starts `kiln serve` with `env` added to this process's environment; waits for nothing. */
export async function spawnServe(env: Record<string, string>): Promise<ServeProcess> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/bin.ts', 'serve'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', KILN_BASE_URL: `${origin}/fhir/r4`, ...env },
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  return {
    child,
    port,
    origin,
    base: `${origin}/fhir/r4`,
    out: () => out,
    err: () => err,
    exited,
    until: async (done, tries = 300) => {
      for (let i = 0; i < tries && !done(); i++) await new Promise((r) => setTimeout(r, 100));
    },
  };
}

/** How long `startServe` waits, all attempts together; a suite's hook or test that calls it allows more (`SERVE_TIMEOUT_MS`). */
const START_WITHIN_MS = 120_000;

/** A jest timeout for a hook or test that calls `startServe`: its wait, and time to spare. */
export const SERVE_TIMEOUT_MS = START_WITHIN_MS + 30_000;

/**
 * Starts `kiln serve` and waits until its output holds `ready` (a log message such as
 * `"listening"`). The port `freePort` found may be taken by another process before the
 * server binds it (it binds after preparing the database, seconds later, and suites run
 * side by side): a server that exits with EADDRINUSE is started again on another port.
 * Any other exit, or no `ready` within two minutes, throws with what the server wrote on
 * standard error and its last log lines (how far it got).
 */
export async function startServe(env: Record<string, string>, ready: string): Promise<ServeProcess> {
  const deadline = Date.now() + START_WITHIN_MS;
  for (let attempt = 1; ; attempt++) {
    const serve = await spawnServe(env);
    let exited = false;
    void serve.exited.then(() => (exited = true));
    while (!exited && !serve.out().includes(ready) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (serve.out().includes(ready)) return serve;
    if (!exited) serve.child.kill('SIGKILL');
    await serve.exited;
    if (attempt < 5 && Date.now() < deadline && serve.err().includes('EADDRINUSE')) continue;
    const lastLines = serve.out().trim().split('\n').slice(-3).join('\n');
    throw new Error(
      `kiln serve did not log ${ready} (attempt ${attempt}, exit ${serve.child.exitCode ?? serve.child.signalCode}).\n` +
        `stderr: ${unexpectedStderr(serve.err()).join('\n').slice(0, 2000)}\nlast log lines: ${lastLines.slice(0, 2000)}`,
    );
  }
}

/** Registers a backend client with `system/*.*` through `kiln clients add`, as an operator does. */
export async function addClientByCli(env: Record<string, string>, name: string): Promise<{ status: number | null; client: BackendClient }> {
  const key = await keyPair();
  const metadata = { client_name: name, grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.publicJwk] }, scope: 'system/*.*' };
  const added = await runKiln(['clients', 'add', '--json', '-'], { input: JSON.stringify(metadata), env: { ...env, KILN_LOG_LEVEL: 'silent' } });
  const clientId = added.code === 0 ? (JSON.parse(added.stdout) as { client_id: string }).client_id : '';
  return { status: added.code, client: { clientId, key } };
}

/** Lines of standard error other than oidc-provider's one warning about a Node.js older than 22. */
export function unexpectedStderr(err: string): string[] {
  return withoutRuntimeWarning(err).split('\n').filter(Boolean);
}
