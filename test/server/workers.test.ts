import { request } from 'node:http';
import { availableParallelism } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../../server/config.js';
import { clientCredentials } from '../helpers/auth.js';
import { engines, freshDatabase, type TestDatabase } from '../helpers/db.js';
import { TEST_SECRET_KEY } from '../helpers/app.js';
import { addClientByCli, spawnServe, unexpectedStderr, type ServeProcess } from '../helpers/serve.js';

/**
 * `KILN_WORKERS`: `kiln serve` as a primary process and several workers on one port,
 * run as an operator runs it, on each engine.
 */

describe('KILN_WORKERS configuration', () => {
  it('defaults to one process, takes a count or auto, and names the key when wrong', () => {
    expect(loadConfig({}).workers).toBe(1);
    expect(loadConfig({ KILN_WORKERS: '3' }).workers).toBe(3);
    expect(loadConfig({ KILN_WORKERS: 'auto' }).workers).toBe(availableParallelism());
    for (const bad of ['two', '0', '-1']) {
      expect(() => loadConfig({ KILN_WORKERS: bad })).toThrow(ConfigError);
      expect(() => loadConfig({ KILN_WORKERS: bad })).toThrow(/KILN_WORKERS/);
    }
  });
});

/** A request on a connection of its own (no keep-alive), so consecutive requests reach different workers. */
function send(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

interface LogLine {
  pid: number;
  msg: string;
  worker?: number;
  role?: string;
  path?: string;
}

describe.each(engines())('kiln serve with KILN_WORKERS=2 (%s)', (engine) => {
  let fresh: TestDatabase;
  let serve: ServeProcess;
  let env: Record<string, string>;
  const lines = (): LogLine[] => serve.out().trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogLine);
  const waitForLines = async (msg: string, n: number) => {
    await serve.until(() => lines().filter((l) => l.msg === msg).length >= n, 600);
    return lines().filter((l) => l.msg === msg);
  };

  beforeAll(async () => {
    fresh = await freshDatabase(engine);
    await fresh.db.close();
    env = { DATABASE_URL: fresh.url, KILN_SECRET_KEY: TEST_SECRET_KEY };
    serve = await spawnServe({ ...env, KILN_SAMPLE_PATIENTS: '2', KILN_WORKERS: '2' });
    await waitForLines('worker listening', 2);
  });
  afterAll(async () => {
    if (serve.child.exitCode === null && serve.child.signalCode === null) serve.child.kill('SIGKILL');
    await fresh.drop().catch(() => undefined);
  });

  it('prepares the database once, serves from two workers, replaces a dead one and stops them all on SIGTERM', async () => {
    const primary = serve.child.pid;
    // The primary loaded the sample data before starting the workers; they found it there.
    expect(lines().filter((l) => l.msg === 'sample data loaded').map((l) => l.pid)).toEqual([primary]);
    const workers = (await waitForLines('worker listening', 2)).map((l) => l.worker as number);
    expect(new Set(workers).size).toBe(2);
    expect(workers).not.toContain(primary);

    // A backend client registered from the command line can use either worker.
    const added = await addClientByCli(env, 'workers');
    expect(added.status).toBe(0);
    const granted = await clientCredentials(added.client, `${serve.origin}/oauth`, 'system/*.*');
    expect(granted.status).toBe(200);
    const headers = { authorization: `Bearer ${granted.body.access_token}`, 'content-type': 'application/fhir+json' };
    const { base } = serve;

    // Writes on new connections land on both workers; every one is then readable from every worker.
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const created = await send(`${base}/Patient`, { method: 'POST', headers, body: JSON.stringify({ resourceType: 'Patient', name: [{ family: `Worker${i}` }] }) });
      expect(created.status).toBe(201);
      ids.push((JSON.parse(created.body) as { id: string }).id);
    }
    for (const id of ids) for (let i = 0; i < 2; i++) expect((await send(`${base}/Patient/${id}`, { headers })).status).toBe(200);

    // A worker that dies is replaced; the other keeps answering meanwhile.
    process.kill(workers[0], 'SIGKILL');
    const replaced = await waitForLines('worker listening', 3);
    const third = replaced[2].worker as number;
    expect(workers).not.toContain(third);
    expect(lines().some((l) => l.msg === 'worker exited; starting another' && l.worker === workers[0])).toBe(true);
    for (let i = 0; i < 4; i++) expect((await send(`${base}/Patient/${ids[i]}`, { headers })).status).toBe(200);

    serve.child.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
    const all = lines();
    // Both workers that were running stopped gracefully, and they had both answered requests.
    const stopped = all.filter((l) => l.msg === 'shutting down').map((l) => l.pid);
    expect(new Set(stopped)).toEqual(new Set([workers[1], third]));
    const answered = new Set(all.filter((l) => l.msg === 'request' && l.path?.startsWith('/fhir/r4/Patient')).map((l) => l.pid));
    expect(answered.has(workers[0]) || answered.has(third)).toBe(true);
    expect(answered.has(workers[1])).toBe(true);
    expect(all.find((l) => l.msg === 'all workers stopped')).toMatchObject({ pid: primary, code: 0 });
    expect(unexpectedStderr(serve.err())).toEqual([]);
  });
});
