import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { freePort } from './app.js';
import type { BackendClient } from './auth.js';
import { keyPair } from './auth.js';

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

/** Registers a backend client with `system/*.*` through `kiln clients add`, as an operator does. */
export async function addClientByCli(env: Record<string, string>, name: string): Promise<{ status: number | null; client: BackendClient }> {
  const key = await keyPair();
  const metadata = { client_name: name, grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.publicJwk] }, scope: 'system/*.*' };
  const added = spawnSync(process.execPath, ['--import', 'tsx', 'server/bin.ts', 'clients', 'add', '--json', '-'], {
    input: JSON.stringify(metadata),
    env: { ...process.env, ...env, KILN_LOG_LEVEL: 'silent' },
    encoding: 'utf8',
  });
  const clientId = added.status === 0 ? (JSON.parse(added.stdout) as { client_id: string }).client_id : '';
  return { status: added.status, client: { clientId, key } };
}

/** Lines of standard error other than oidc-provider's one warning about a Node.js older than 22. */
export function unexpectedStderr(err: string): string[] {
  return err.split('\n').filter((l) => l && !/^oidc-provider WARNING: Unsupported runtime/.test(l));
}
