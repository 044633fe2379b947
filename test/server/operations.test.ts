import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../../server/config.js';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { clientCredentials } from '../helpers/auth.js';
import { addClientByCli, SERVE_TIMEOUT_MS, startServe, unexpectedStderr, type ServeProcess } from '../helpers/serve.js';

describe('configuration', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c.port).toBe(8080);
    expect(c.baseUrl).toBe('http://localhost:8080/fhir/r4');
    expect(c.basePath).toBe('/fhir/r4');
    expect(c.databaseUrl).toBe('sqlite:./data/kiln.sqlite');
    expect(c.maxBodyBytes).toBe(32 * 1024 * 1024);
    expect(c.autoProvenance).toBe(true);
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['KILN_BASE_URL', 'not a url'],
    ['KILN_BASE_URL', 'ftp://example.org/fhir'],
    ['DATABASE_URL', 'mysql://localhost/kiln'],
    ['KILN_MAX_BODY_BYTES', '-1'],
    ['KILN_AUTO_PROVENANCE', 'perhaps'],
    ['KILN_LOG_LEVEL', 'loud'],
  ])('refuses %s=%s with an error naming the key', (key, value) => {
    expect(() => loadConfig({ [key]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [key]: value })).toThrow(new RegExp(key));
  });

  it('never echoes a database password in its error', () => {
    expect(() => loadConfig({ DATABASE_URL: 'mysql://kiln:s3cret@db/kiln' })).toThrow(/\*\*\*/);
    expect(() => loadConfig({ DATABASE_URL: 'mysql://kiln:s3cret@db/kiln' })).not.toThrow(/s3cret/);
  });
});

describe('health, readiness and request ids', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp('sqlite');
  });
  afterAll(() => t.stop());

  it('answers /healthz and /readyz', async () => {
    expect((await fetch(`${t.origin}/healthz`)).status).toBe(200);
    const ready = await fetch(`${t.origin}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });

  it('sends an X-Request-Id, keeping a well-formed incoming one', async () => {
    const own = await fhirFetch(t, 'metadata');
    expect(own.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const kept = await fhirFetch(t, 'metadata', { headers: { 'x-request-id': 'proxy-123' } });
    expect(kept.headers.get('x-request-id')).toBe('proxy-123');
    const replaced = await fhirFetch(t, 'metadata', { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(replaced.headers.get('x-request-id')).not.toBe('bad id with spaces');
  });

  it('answers paths outside the FHIR base with an OperationOutcome 404', async () => {
    const res = await fetch(`${t.origin}/nowhere`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
  });
});

describe('kiln serve as a process', () => {
  let dir: string;
  let serve: ServeProcess;
  let env: Record<string, string>;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kiln-serve-'));
    env = { DATABASE_URL: `sqlite:${join(dir, 'k.sqlite')}` };
    serve = await startServe({ ...env, KILN_SAMPLE_PATIENTS: '2' }, '"listening"');
  }, SERVE_TIMEOUT_MS);
  afterAll(() => {
    serve?.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts with sample data, logs JSON without bodies, and finishes in-flight requests on SIGTERM', async () => {
    expect(serve.out()).toContain('"sample data loaded"');
    const { base } = serve;
    // An operator registers a backend client with the command line; the running server sees it at once.
    const added = await addClientByCli(env, 'ops');
    expect(added.status).toBe(0);
    const granted = await clientCredentials(added.client, `${serve.origin}/oauth`, 'system/*.*');
    expect(granted.status).toBe(200);
    const authorization = `Bearer ${granted.body.access_token}`;
    expect((await fetch(`${base}/Group/_history?_count=1`)).status).toBe(401);
    const group = await fetch(`${base}/Group/_history?_count=1`, { headers: { authorization } });
    expect(group.status).toBe(200);
    // Start a create whose body arrives slowly, then ask the server to stop.
    const body = JSON.stringify({ resourceType: 'Patient', name: [{ family: 'InFlightSecretName' }] });
    const done = new Promise<number>((resolve, reject) => {
      const req = request(`${base}/Patient`, { method: 'POST', headers: { authorization, 'content-type': 'application/fhir+json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write(body.slice(0, 10));
      setTimeout(() => {
        serve.child.kill('SIGTERM');
        setTimeout(() => req.end(body.slice(10)), 300);
      }, 200);
    });
    expect(await done).toBe(201);
    expect(await serve.exited).toBe(0);
    const out = serve.out();
    const lines = out.trim().split('\n');
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    // oidc-provider warns once, on stderr, when the runtime is older than Node.js 22; nothing else may appear there.
    expect(unexpectedStderr(serve.err())).toEqual([]);
    expect(out).toContain('"shutting down"');
    expect(out).not.toContain('InFlightSecretName');
    // Log lines name their fields; no header (and so no token) is ever among them.
    expect(out).toContain('"path":"/fhir/r4/Group/_history"');
    expect(out).not.toContain(granted.body.access_token);
  });
});

describe('kiln serve stopped twice', () => {
  it('waits for a request in flight on the first signal and stops at once on the second', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-serve-'));
    const serve = await startServe({ DATABASE_URL: `sqlite:${join(dir, 'k.sqlite')}`, KILN_SAMPLE_DATA: 'false' }, '"listening"');
    try {
      // A request whose body never finishes keeps the graceful stop waiting.
      const req = request(`${serve.base}/Patient`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', 'content-length': '100' } });
      req.on('error', () => undefined);
      req.write('{"resourceType":');
      await new Promise((r) => setTimeout(r, 200));
      serve.child.kill('SIGTERM');
      // Log lines are flushed within a second; the stop waits up to 10 s for the request.
      await serve.until(() => serve.out().includes('"shutting down"'), 30);
      expect(serve.out()).toContain('"shutting down"');
      expect(serve.child.exitCode).toBeNull();
      serve.child.kill('SIGTERM');
      expect(await serve.exited).toBe(1);
      req.destroy();
    } finally {
      serve.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, SERVE_TIMEOUT_MS);
});
