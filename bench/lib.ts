/**
 * What the benchmarks share: a free port, a `kiln serve` child process, and waiting for
 * a server to answer.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

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

/** Runs a TypeScript entry of the project as its own process (stdout dropped, stderr shown). */
export function startNode(script: string, args: string[], env: Record<string, string | undefined>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
}

export interface KilnProcess {
  proc: ChildProcess;
  /** The FHIR base URL. */
  base: string;
  stop(): Promise<void>;
}

/** Starts `kiln serve` on a free port over `databaseUrl` and waits until it is ready. */
export async function startKiln(databaseUrl: string, env: Record<string, string> = {}): Promise<KilnProcess> {
  const port = await freePort();
  const proc = startNode('server/bin.ts', ['serve'], { DATABASE_URL: databaseUrl, PORT: String(port), HOST: '127.0.0.1', ...env });
  const exited = new Promise((r) => proc.once('exit', r));
  await waitFor(`http://127.0.0.1:${port}/readyz`);
  return {
    proc,
    base: `http://127.0.0.1:${port}/fhir/r4`,
    stop: async () => {
      proc.kill('SIGTERM');
      await exited;
    },
  };
}
